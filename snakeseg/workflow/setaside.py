"""The end-of-run note on what this run set aside, on masks whose stray values it fixed and on classes
no image has: a bad image or a misread mask is named on the console, not only in a table the user
may never open."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from ..data.listing import JUNK_REASON, NO_IMAGE

TABLES = {  # each set-aside table under the results folder, and whose images it lists
    "qa/rejected.csv": "training",
    "test/*/set_aside.csv": "test",
    "inference/*/set_aside.csv": "new",
    "assl/round-*/set_aside.csv": "pool",
}
SHOWN = 3  # rows quoted per table


def run_notes(results: str | Path, since: float) -> list[str]:
    """One line per set-aside table written at or after ``since`` (a time.time()) that has rows, then
    its first rows: what, and why."""
    notes = []
    for pattern, kind in TABLES.items():
        shown = []  # each experiment's folder lists the same test or new images: say them once
        for table in sorted(Path(results).glob(pattern)):
            if table.stat().st_mtime < since:
                continue
            with open(table, newline="", encoding="utf-8") as fh:
                rows = [r for r in csv.DictReader(fh) if r.get("reason") != JUNK_REASON]  # .DS_Store is no news
            if not rows or rows == shown:
                continue
            shown = rows
            orphans = sum(1 for r in rows if r.get("id") and NO_IMAGE in r.get("reason", ""))
            images = sum(1 for r in rows if r.get("id")) - orphans  # rows without an id: files of no image
            what = [f"{_count(images, f'{kind} image')} set aside"] * bool(images)
            what += [f"{_count(orphans, 'mask')} without an image set aside"] * bool(orphans)
            what += [f"{_count(len(rows) - images - orphans, 'file')} of no image ignored"] * bool(
                len(rows) - images - orphans)
            notes.append(f"snakeseg: {' and '.join(what)}: see {table} (a reason and fix a row)")
            notes += [f"  {r.get('id') or r.get('files')}: {r.get('reason')}" for r in rows[:SHOWN]]
            if len(rows) > SHOWN:
                notes.append(f"  ... and {len(rows) - SHOWN} more")
    tests = [t for t in sorted(Path(results).glob("test/*/dataset.csv")) if t.stat().st_mtime >= since][:1]  # once
    return (notes + stray_note(Path(results) / "qa" / "dataset.csv", since)
            + [line for t in tests for line in stray_note(t, since, "test mask")] + absent_class_notes(results, since))


def absent_class_notes(results: str | Path, since: float) -> list[str]:
    """A line per class that no out-of-fold image has in its truth or prediction (its Dice has no
    mean in an experiment's summary written at or after ``since``): masks read another way than meant."""
    notes = []
    for summary in sorted(Path(results).glob("metrics/*/summary.json")):
        if summary.stat().st_mtime < since:
            continue
        overall = json.loads(summary.read_text()).get("overall", {})
        absent = [key[len("dice_"):] for key, value in overall.items()
                  if key.startswith("dice_") and isinstance(value, dict) and value.get("mean") is None]
        if absent:
            notes.append(f"snakeseg: class{'es' * (len(absent) > 1)} {', '.join(absent)} "
                         f"{'are' if len(absent) > 1 else 'is'} in no mask and no prediction of experiment "
                         f"{summary.parent.name} ({summary}): check masks.format and masks.classes against the "
                         "QA table's mask_encoding column")
    return notes


def stray_note(dataset: str | Path, since: float, what: str = "mask") -> list[str]:
    """A line on the masks whose stray values were fixed (thresholded, ignored), if the QA table
    ``dataset`` was written at or after ``since`` and has any."""
    dataset = Path(dataset)
    if not dataset.exists() or dataset.stat().st_mtime < since:
        return []
    with open(dataset, newline="", encoding="utf-8") as fh:
        fixed = [r for r in csv.DictReader(fh) if r.get("stray_action")]
    if not fixed:
        return []
    return [f"snakeseg: {_count(len(fixed), what)} had stray values, read as the QA table says (first: "
            f"{fixed[0]['id']}, {fixed[0]['stray_action']}): see {dataset}; masks.strict: true sets them aside instead"]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
