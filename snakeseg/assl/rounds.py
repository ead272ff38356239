"""Active-learning rounds: the accepted predictions of earlier rounds as a training source, a round's
review folder, and the per-round table."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pandas as pd

from .. import atomic
from ..errors import InputError
from .responses import read_responses
from .roundfiles import REVIEW_COLUMNS


def round_dir(results: str | Path, n: int) -> Path:
    return Path(results) / "assl" / f"round-{n}"


def round_of(path: str | Path) -> int:
    """N of a file or folder inside ``.../assl/round-N/``."""
    for part in reversed(Path(path).parts):
        if part.startswith("round-"):
            return int(part.split("-", 1)[1])
    raise ValueError(f"{path} is not inside a round-N folder")


def rounds_made(results: str | Path) -> list[int]:
    """The rounds whose review folder exists (its review.csv written), in order."""
    folders = (Path(results) / "assl").glob("round-*")
    return sorted(int(f.name[6:]) for f in folders if re.fullmatch(r"round-\d+", f.name) and (f / "review.csv").exists())


def check_round(results: str | Path, n: int) -> None:
    """InputError unless round ``n`` follows the rounds made so far: going back to an earlier round
    would retrain it and rewrite its reviewed folder, and a round after an unreviewed one would repeat it."""
    made = rounds_made(results)
    latest = made[-1] if made else -1
    reviewed = latest >= 0 and (round_dir(results, latest) / "response.csv").exists()
    go_on = f"set assl.round: {latest + 1 if reviewed else max(latest, 0)}"
    if n < latest:
        raise InputError("config assl.round", f"is {n}, but round {latest} was already made in {round_dir(results, latest)}",
                         f"rounds go forward, and earlier ones stay as they were reviewed: {go_on}")
    if n > latest + 1:
        raise InputError("config assl.round", f"is {n}, but the last round made is {latest}" if made else
                         f"is {n}, but no round was made yet", f"rounds go one at a time: {go_on}")
    if n == latest + 1 and not reviewed and latest >= 0:
        raise InputError("config assl.round", f"is {n}, but round {latest} has not been reviewed (no response.csv)",
                         f"review it first (python -m snakeseg review {round_dir(results, latest)}), or rerun it: {go_on}")


def answered(results: str | Path, n: int) -> int:
    """How many of round ``n``'s images have been answered in its review (0 before any)."""
    folder = round_dir(results, n)
    return len(read_responses(folder)) if (folder / "review.csv").exists() else 0


def check_reviewable(folder: str | Path) -> None:
    """InputError when a later round, made from ``folder``'s answers, has answers of its own: they were
    given to what these answers proposed. A later round not yet reviewed is remade from changed answers."""
    try:
        n, results = round_of(folder), Path(folder).resolve().parent.parent
    except ValueError:  # a round folder copied elsewhere under another name: no later rounds to know of
        return
    reviewed = [k for k in rounds_made(results) if k > n and answered(results, k)]
    if reviewed:
        raise InputError(str(folder), f"round {reviewed[0]}, made from its answers, has been reviewed",
                         f"review the latest round, {round_dir(results, max(rounds_made(results)))}, or delete "
                         f"{round_dir(results, reviewed[0]) / 'response.csv'} to change these answers first")


def responses_before(results: str | Path, n: int) -> list[Path]:
    """The ``response.csv`` of each round 0..n-1 that has been reviewed."""
    return [f for k in range(n) for f in [round_dir(results, k) / "response.csv"] if f.exists()]


def accepted_in(response_files: list[str | Path]) -> dict[str, int]:
    """{id: round} of every prediction accepted in these rounds' reviews (a later round's answer wins)."""
    out: dict[str, int] = {}
    for path in sorted(map(Path, response_files), key=round_of):
        for image_id, answer in read_responses(path.parent).items():
            if answer == "yes":
                out[image_id] = round_of(path)
            else:
                out.pop(image_id, None)
    return out


def accepted_before(results: str | Path, n: int) -> dict[str, int]:
    """{id: round} of every prediction accepted in rounds 0..n-1."""
    return accepted_in(responses_before(results, n))


def accepted_masks_spec(classes: list[str]) -> dict:
    """The ``masks`` config that reads accepted predictions back as they were written
    (:func:`..inference.predict.mask_png`): 0/255, or class indices when there are several classes."""
    return {"format": "index" if len(classes) > 1 else "binary", "classes": list(classes)}


def build_accepted(results: str | Path, n: int, out: str | Path) -> int:
    """``out/images/<id>.png`` and ``out/masks/<id>.png`` of the predictions accepted before round
    ``n`` (a paired-layout source of its own, never written into the user's folders). A file is
    rewritten only when its bytes changed, so an unchanged image keeps its shard's fingerprint.
    Returns the number of images."""
    accepted = accepted_before(results, n)
    out = Path(out)
    for kind in ("images", "masks"):
        (out / kind).mkdir(parents=True, exist_ok=True)
        wanted = {f"{i}.png": round_dir(results, k) / kind / f"{i}.png" for i, k in accepted.items()}
        for stale in set(os.listdir(out / kind)) - set(wanted):
            (out / kind / stale).unlink()
        for name, source in wanted.items():
            data = source.read_bytes()
            target = out / kind / name
            if not target.exists() or target.read_bytes() != data:
                atomic.write_bytes(target, data)
    return len(accepted)


def review_rows(summaries: list[pd.DataFrame], skip: set[str]) -> pd.DataFrame:
    """The round's review manifest: every segmented pool image not accepted before, the least sure
    first (lowest expected Dice, as Label Studio's uncertainty sampling orders its queue); empty
    masks, which have no expected Dice and may be a missed object, before them; ties by id."""
    rows = pd.concat([s for s in summaries if len(s)] or [pd.DataFrame(columns=REVIEW_COLUMNS)], ignore_index=True)
    rows = rows[~rows["id"].isin(skip)].reindex(columns=REVIEW_COLUMNS)  # summaries made before expected_dice
    rows = rows.sort_values("id", kind="stable")
    rows = rows.sort_values("expected_dice", kind="stable", na_position="first", key=lambda c: pd.to_numeric(c))
    return rows.reset_index(drop=True)


def round_record(n: int, n_labelled: int, n_accepted_before: int, n_review: int, oof_summary: dict) -> dict:
    """What a round's run measured: its training data and the out-of-fold Dice on the hand-labelled
    images only (the accepted predictions are never scored), so rounds compare."""
    return {"round": n, "labelled": n_labelled, "accepted_before": n_accepted_before,
            "trained_on": n_labelled + n_accepted_before, "to_review": n_review,
            "oof_dice_labelled": oof_summary["overall"]["dice"]["mean"]}


def rounds_table(records: list[dict], response_files: list[str | Path]) -> pd.DataFrame:
    """One row per round: its record plus its review's accepted, rejected and pending counts."""
    reviews = {round_of(f): read_responses(Path(f).parent) for f in response_files}
    rows = []
    for record in sorted(records, key=lambda r: r["round"]):
        answers = reviews.get(record["round"], {})
        yes = sum(a == "yes" for a in answers.values())
        rows.append({**record, "accepted": yes, "rejected": len(answers) - yes,
                     "pending": record["to_review"] - len(answers)})
    columns = ["round", "labelled", "accepted_before", "trained_on", "to_review", "accepted", "rejected", "pending",
               "oof_dice_labelled"]
    return pd.DataFrame(rows, columns=columns)


def read_records(paths: list[str]) -> list[dict]:
    return [json.loads(Path(p).read_text()) for p in paths]
