"""Masks given as run-length encodings in a CSV (Kaggle's format: "start length" pairs, starts
counted from 1), written out as mask images beside their images, so that the data become a paired
folder (HuBMAP's train.csv, DSB2018's stage1_train_labels.csv, Sartorius', Carvana's)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .. import atomic
from ..errors import InputError
from .headers import image_size
from .imageio import encode_png
from .labelmaps import encode_instances

#: pixel order of the runs: F, top to bottom then left to right (the Kaggle text; DSB2018, HuBMAP);
#: C, left to right then top to bottom (Sartorius, Carvana)
ORDERS = ("F", "C")
#: encoding columns of the CSVs whose runs go left to right: Carvana's train_masks.csv, Sartorius' train.csv
ROW_MAJOR_COLUMNS = ("rle_mask", "annotation")


def auto_order(columns) -> str:
    """The pixel order of a CSV with these columns: C for Carvana's and Sartorius', else F. A wrong
    order gives a transposed or striped mask, not an error, so the known CSVs choose their own."""
    return "C" if any(c in ROW_MAJOR_COLUMNS for c in columns) else "F"


def decode_rle(text, shape: tuple[int, int], order: str = "F") -> np.ndarray:
    """Boolean H x W mask of one run-length encoding (an empty string or NaN: an empty mask)."""
    height, width = shape
    flat = np.zeros(height * width, dtype=bool)
    values = np.array(str(text).split() if isinstance(text, str) else [], dtype=np.int64)
    if values.size % 2:
        raise ValueError("an odd number of values: runs are 'start length' pairs")
    starts, lengths = values[0::2] - 1, values[1::2]
    if values.size and (starts.min() < 0 or (starts + lengths).max() > flat.size or lengths.min() < 0):
        raise ValueError(f"runs outside the {width}x{height} image (starts count from 1)")
    for start, length in zip(starts.tolist(), lengths.tolist()):
        flat[start:start + length] = True
    return flat.reshape(width, height).T if order == "F" else flat.reshape(height, width)


def images_by_key(images_dir: Path) -> dict[str, Path]:
    """The image files of a folder by file name and by stem (CSV ids are either)."""
    files = sorted(p for p in images_dir.iterdir() if p.is_file() and not p.name.startswith("."))
    return {key: p for p in files for key in (p.stem, p.name)}


def write_masks(csv_path: str, images_dir: str, out_dir: str, order: str = "auto",
                id_column: str | None = None, rle_column: str | None = None) -> dict:
    """A mask per image of ``images_dir`` that has rows in the CSV, in ``out_dir/<stem>.png``: 0/255
    for one row, object ids 1..n (16-bit PNG; a 32-bit TIFF past 65,535) for several, one object
    a row. Image sizes come from the files' headers. Returns what was written and left out, and
    the pixel order read (``auto``: :func:`auto_order`)."""
    if order not in (*ORDERS, "auto"):
        raise ValueError(f"order must be auto or one of {ORDERS}, got {order!r}")
    table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    order = auto_order(table.columns) if order == "auto" else order
    id_column = id_column or table.columns[0]
    rle_column = rle_column or table.columns[1]
    for column in (id_column, rle_column):
        if column not in table.columns:
            raise InputError(csv_path, f"has no column {column!r} (columns: {', '.join(table.columns)})",
                             "name the id and encoding columns with --id-column and --rle-column")
    images = images_by_key(Path(images_dir))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    done = {"binary": [], "objects": [], "no_image": [], "no_rows": [], "order": order}
    for image_id, rows in table.groupby(id_column, sort=True):
        path = images.get(image_id)
        if path is None:
            done["no_image"].append(image_id)
            continue
        with open(path, "rb") as fh:
            shape = image_size(fh)
        if shape is None:
            raise InputError(str(path), "has no image header Pillow can read", "replace it with a readable image")
        masks = []
        for text in rows[rle_column]:
            try:
                masks.append(decode_rle(text, shape, order))
            except ValueError as err:
                raise InputError(csv_path, f"row of {image_id}: {err}",
                                 "check the image it belongs to and --order (F or C)") from None
        if len(masks) == 1:
            atomic.write_bytes(out / f"{path.stem}.png", encode_png(masks[0].astype(np.uint8) * 255, rgb=False))
            done["binary"].append(image_id)
        else:
            ids = np.zeros(shape, np.int32)
            for n, mask in enumerate(masks, start=1):
                ids[mask] = n
            data, suffix = encode_instances(ids)
            atomic.write_bytes(out / f"{path.stem}{suffix}", data)
            done["objects"].append(image_id)
    named = set(table[id_column])
    done["no_rows"] = sorted({p.name for p in images.values() if p.stem not in named and p.name not in named})
    return done
