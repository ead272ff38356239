"""The round folder of an active semi-supervised learning round, and a synthetic one for tests.

``results/assl/round-N/`` holds::

    review.csv          the review manifest: columns id,source,foreground_fraction,components and
                        expected_dice (absent in rounds made before it); one row per image to review,
                        in the order to show them
    overlays/<id>.png   the prediction drawn on the image (what the reviewer judges)
    images/<id>.png     the image itself
    masks/<id>.png      the predicted mask, 0 (background) or 255 (foreground)
    response.csv        the decisions, in the Deepskin validator's format: header ``Filename,response``,
                        rows ``<id>.png,yes`` or ``<id>.png,no`` (Filename is the overlay's file name);
                        written by the review page (``python -m snakeseg review``), an image without a
                        row is not reviewed yet

An id is a file stem: letters, digits, ``.``, ``_`` and ``-``, not starting with a dot. Files are
found only through the ids of review.csv, never from names sent by a browser.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

REVIEW_CSV = "review.csv"
RESPONSE_CSV = "response.csv"
REVIEW_COLUMNS = ["id", "source", "foreground_fraction", "components", "expected_dice"]
REQUIRED_COLUMNS = REVIEW_COLUMNS[:4]  # expected_dice is optional: rounds reviewed before it keep working
# One file name of any script, spaces and brackets included (a phone's "wound photo (1)"), but no
# folder separator, control character or leading dot: the id names <id>.png in the round's folders.
ID_PATTERN = re.compile(r"[^./\\\x00-\x1f][^/\\\x00-\x1f]{0,199}")


@dataclass(frozen=True)
class Item:
    """One row of review.csv."""

    id: str
    source: str
    foreground_fraction: str
    components: str
    expected_dice: str = ""

    def as_dict(self) -> dict:
        return {"id": self.id, "source": self.source, "foreground_fraction": self.foreground_fraction,
                "components": self.components, "expected_dice": self.expected_dice}


def read_review(round_dir: str | Path) -> list[Item]:
    """The rows of ``round_dir/review.csv`` in order; InputError (naming file and line) if it is not
    a review manifest: missing columns, a bad or repeated id."""
    path = Path(round_dir) / REVIEW_CSV
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as err:
        raise InputError(path, f"cannot read the review manifest ({err.strerror or err})",
                         "give the folder of a round (results/assl/round-N) made by the workflow") from None
    except UnicodeDecodeError:
        raise InputError(path, "is not UTF-8 text", "save it as UTF-8, or rerun the round to write it again") from None
    rows = csv.reader(text.splitlines())
    header = [h.strip() for h in next(rows, [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise InputError(path, f"header {','.join(header) or '(empty file)'} lacks {', '.join(missing)}",
                         f"the first line must name the columns {','.join(REVIEW_COLUMNS)}")
    col = {c: header.index(c) for c in REVIEW_COLUMNS if c in header}
    items, seen = [], {}
    for line, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise InputError(f"{path}, line {line}", f"{len(row)} fields where the header has {len(header)}",
                             "write one value per column")
        item = Item(**{c: row[k].strip() for c, k in col.items()})
        if not ID_PATTERN.fullmatch(item.id):
            raise InputError(f"{path}, line {line}", f"id {item.id!r} is not a plain file stem",
                             "use the file names of the round's images/ folder, without folder or extension")
        if item.id in seen:
            raise InputError(f"{path}, line {line}", f"id {item.id!r} is already on line {seen[item.id]}",
                             "list each image once")
        seen[item.id] = line
        items.append(item)
    return items


def overlay_path(round_dir: str | Path, item_id: str) -> Path:
    return Path(round_dir) / "overlays" / f"{item_id}.png"


def image_path(round_dir: str | Path, item_id: str) -> Path:
    return Path(round_dir) / "images" / f"{item_id}.png"


def make_round(round_dir: str | Path, n: int = 9, size: int = 96, seed: int = 0) -> list[str]:
    """Write a synthetic round (images, masks, overlays, review.csv; no response.csv) of ``n`` images
    with one to three bright blobs each; returns the ids in review order. For tests and demos."""
    import cv2  # only the synthetic round needs OpenCV and NumPy
    import numpy as np

    from ..inference.overlay import overlay

    round_dir = Path(round_dir)
    for sub in ("images", "masks", "overlays"):
        (round_dir / sub).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows, ids = [], []
    for k in range(n):
        item_id = f"pool-{k:03d}"
        image = rng.integers(20, 70, (size, size, 3), dtype=np.uint8)
        mask = np.zeros((size, size), np.uint8)
        for _ in range(int(rng.integers(1, 4))):
            centre = tuple(int(v) for v in rng.integers(size // 5, size - size // 5, 2))
            cv2.circle(mask, centre, int(rng.integers(size // 12, size // 5)), 255, -1)
        image[mask > 0] = (image[mask > 0] + rng.integers(100, 180, 3)).clip(0, 255).astype(np.uint8)
        drawn = overlay(image, (mask > 0).astype(np.uint8), thickness=max(1, size // 64))
        for sub, arr in (("images", image), ("masks", mask), ("overlays", drawn)):
            ok, data = cv2.imencode(".png", arr[..., ::-1] if arr.ndim == 3 else arr)
            (round_dir / sub / f"{item_id}.png").write_bytes(data.tobytes())
        n_components = cv2.connectedComponents((mask > 0).astype(np.uint8))[0] - 1
        rows.append([item_id, f"pool/{item_id}.jpg", f"{(mask > 0).mean():.4f}", str(n_components),
                     f"{rng.uniform(0.6, 1):.4f}"])
        ids.append(item_id)
    with open(round_dir / REVIEW_CSV, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows([REVIEW_COLUMNS, *rows])
    return ids
