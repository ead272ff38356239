"""A round's decisions, response.csv (Deepskin validator format): read, validate, write atomically, count."""

from __future__ import annotations

import csv
from pathlib import Path, PurePath
from typing import Iterable, NamedTuple

from .. import atomic
from ..errors import InputError
from .roundfiles import RESPONSE_CSV, read_review

HEADER = ["Filename", "response"]
ANSWERS = ("yes", "no")
SHORT_ANSWERS = {"y": "yes", "n": "no"}  # the review page's keys


class Counts(NamedTuple):
    accepted: int
    rejected: int
    pending: int


def parse_responses(path: str | Path, ids: Iterable[str]) -> dict[str, str]:
    """``{id: "yes" | "no"}`` from a response CSV, in file order. Every Filename must be ``<id>.png``
    with an id of the round (``ids``), listed once; InputError names the file and line otherwise."""
    path, known = Path(path), set(ids)
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM from a spreadsheet export is fine
    except OSError as err:
        raise InputError(path, f"cannot read the responses ({err.strerror or err})",
                         "give an existing CSV file") from None
    except UnicodeDecodeError:  # Excel's "Unicode Text" (UTF-16) or a legacy code page
        raise InputError(path, "is not UTF-8 text", 'save it as "CSV UTF-8 (comma delimited)"') from None
    rows = csv.reader(text.splitlines())
    header = [h.strip() for h in next(rows, [])]
    if [h.lower() for h in header] != [h.lower() for h in HEADER]:
        semicolons = len(header) == 1 and ";" in header[0]  # a spreadsheet set to another locale's separator
        raise InputError(f"{path}, line 1", f"header {','.join(header) or '(empty file)'} is not {','.join(HEADER)}",
                         ("separate the columns with commas, not semicolons: " if semicolons else "")
                         + "write the Deepskin validator's format: Filename,response then <id>.png,yes|no rows")
    decisions: dict[str, str] = {}
    lines: dict[str, int] = {}
    for line, row in enumerate(rows, start=2):
        where = f"{path}, line {line}"
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != 2:
            raise InputError(where, f"{len(row)} fields instead of 2", "write <id>.png,yes or <id>.png,no")
        name, answer = row[0].strip(), SHORT_ANSWERS.get(row[1].strip().lower(), row[1].strip().lower())
        item_id = name[:-4] if name.endswith(".png") else None
        if item_id not in known:
            meant = PurePath(name.replace("\\", "/")).name  # images/0609.png (review.csv's source), 0609.jpg
            meant = meant if meant in known else PurePath(meant).stem
            fix = f"write {meant}.png" if meant in known else "use the ids listed in the round's review.csv, each + '.png'"
            raise InputError(where, f"Filename {name!r} is not <id>.png for an image of this round", fix)
        if answer not in ANSWERS:
            raise InputError(where, f"response {row[1].strip()!r} is neither yes nor no", "answer yes or no")
        if item_id in lines:
            raise InputError(where, f"{name} is already answered on line {lines[item_id]}", "answer each image once")
        decisions[item_id], lines[item_id] = answer, line
    return decisions


def read_responses(round_dir: str | Path, ids: Iterable[str] | None = None) -> dict[str, str]:
    """The round's decisions so far (``{}`` before the first); ``ids`` defaults to review.csv's."""
    path = Path(round_dir) / RESPONSE_CSV
    if not path.exists():
        return {}
    return parse_responses(path, [item.id for item in read_review(round_dir)] if ids is None else ids)


def write_responses(round_dir: str | Path, decisions: dict[str, str], ids: list[str]) -> None:
    """Replace response.csv atomically (temporary sibling, fsync, rename): rows in review order."""
    lines = [",".join(HEADER)] + [f"{i}.png,{decisions[i]}" for i in ids if i in decisions]
    atomic.write_text(Path(round_dir) / RESPONSE_CSV, "\n".join(lines) + "\n")


def set_decision(round_dir: str | Path, item_id: str, answer: str | None, ids: list[str]) -> dict[str, str]:
    """Record ``answer`` ("yes", "no", or None to forget it) for ``item_id``; returns all decisions.
    Callers serialise concurrent calls (the page holds a lock)."""
    if item_id not in ids or answer not in (*ANSWERS, None):
        raise ValueError(f"bad decision {item_id!r}: {answer!r}")
    decisions = read_responses(round_dir, ids)
    if answer is None:
        decisions.pop(item_id, None)
    else:
        decisions[item_id] = answer
    write_responses(round_dir, decisions, ids)
    return decisions


def import_responses(round_dir: str | Path, path: str | Path) -> dict[str, str]:
    """Validate a response CSV made elsewhere and merge it into the round's (its answers win);
    returns the decisions it held. Nothing is written if any line is bad."""
    ids = [item.id for item in read_review(round_dir)]
    incoming = parse_responses(path, ids)
    decisions = read_responses(round_dir, ids)
    decisions.update(incoming)
    write_responses(round_dir, decisions, ids)
    return incoming


def accepted(round_dir: str | Path) -> list[str]:
    """Ids answered yes, in review order."""
    ids = [item.id for item in read_review(round_dir)]
    decisions = read_responses(round_dir, ids)
    return [i for i in ids if decisions.get(i) == "yes"]


def counts(round_dir: str | Path) -> Counts:
    """(accepted, rejected, pending) over the images of review.csv."""
    ids = [item.id for item in read_review(round_dir)]
    decisions = read_responses(round_dir, ids)
    yes = sum(decisions.get(i) == "yes" for i in ids)
    no = sum(decisions.get(i) == "no" for i in ids)
    return Counts(yes, no, len(ids) - yes - no)
