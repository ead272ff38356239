"""What a segmentation of new images says per image: size, foreground fraction, objects."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

COLUMNS = ["id", "source", "shard", "height", "width", "foreground_fraction", "components", "objects",
           "expected_dice"]


def expected_dice(labels: np.ndarray, probability: np.ndarray) -> float | None:
    """The Dice the prediction expects of its own mask: the soft Dice of the foreground probability
    (uint8, 0..255) against the mask, 1 where every pixel is sure, lower the more of the mask and its
    surroundings is uncertain. None for an empty mask (nothing to score)."""
    mask = labels > 0
    if not mask.any():
        return None
    p = probability.astype(np.float64) / 255
    return round(float(2 * p[mask].sum() / (p.sum() + mask.sum())), 4)


def describe(labels: np.ndarray, instances: np.ndarray | None = None, probability: np.ndarray | None = None) -> dict:
    """Foreground fraction, connected components (8-connected) of a predicted label map, with
    instance outputs its objects after splitting (empty otherwise), and given the foreground
    probability, its :func:`expected_dice`."""
    fg = (labels > 0).astype(np.uint8)
    return {"height": int(labels.shape[0]), "width": int(labels.shape[1]),
            "foreground_fraction": round(float(fg.mean()), 6),
            "components": int(cv2.connectedComponents(fg, connectivity=8)[0] - 1),
            "objects": None if instances is None else int(instances.max()),
            "expected_dice": None if probability is None else expected_dice(labels, probability)}


def gather(tables: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    """The shards' tables in one, sorted by id (an empty table with ``columns`` when there are none)."""
    tables = [t for t in tables if len(t)]
    if not tables:
        return pd.DataFrame(columns=columns)
    return pd.concat(tables, ignore_index=True).sort_values("id").reset_index(drop=True)


def set_aside(shard_dirs: list[str], unassigned: str) -> pd.DataFrame:
    """Everything of a segmented set that was not segmented: each shard's ``set_aside.csv`` (images that
    could not be read) and the plan's files of no image (``unassigned.json``), with their reasons."""
    from ..tables import read_table

    columns = ["id", "files", "reason"]
    ignored = pd.DataFrame([{"id": "", "files": u["file"], "reason": u["reason"]}
                            for u in json.loads(Path(unassigned).read_text())], columns=columns)
    aside = gather([read_table(Path(d) / "set_aside.csv", dtype=str) for d in shard_dirs], columns)
    return pd.concat([aside, ignored], ignore_index=True)
