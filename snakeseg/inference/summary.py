"""What a segmentation of new images says per image: size, foreground fraction, objects."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd

COLUMNS = ["id", "source", "shard", "height", "width", "foreground_fraction", "components", "objects"]


def describe(labels: np.ndarray, instances: np.ndarray | None = None) -> dict:
    """Foreground fraction, connected components (8-connected) of a predicted label map and, with
    instance outputs, its objects after splitting (empty otherwise)."""
    fg = (labels > 0).astype(np.uint8)
    return {"height": int(labels.shape[0]), "width": int(labels.shape[1]),
            "foreground_fraction": round(float(fg.mean()), 6),
            "components": int(cv2.connectedComponents(fg, connectivity=8)[0] - 1),
            "objects": None if instances is None else int(instances.max())}


def gather(tables: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    """The shards' tables in one, sorted by id (an empty table with ``columns`` when there are none)."""
    tables = [t for t in tables if len(t)]
    if not tables:
        return pd.DataFrame(columns=columns)
    return pd.concat(tables, ignore_index=True).sort_values("id").reset_index(drop=True)
