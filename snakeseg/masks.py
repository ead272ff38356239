"""Merging per-instance masks (DSB2018: one PNG per nucleus) into one binary mask."""

from __future__ import annotations

import numpy as np


def merge_instances(instances: list[np.ndarray]) -> tuple[np.ndarray, int]:
    """Union of instance masks as a uint8 0/255 mask, and the number of non-empty instances.

    All instances must have the same 2-D shape; any non-zero pixel is foreground.
    """
    if not instances:
        raise ValueError("no instance masks to merge")
    shape = instances[0].shape
    merged = np.zeros(shape, dtype=bool)
    count = 0
    for inst in instances:
        if inst.shape != shape:
            raise ValueError(f"instance mask shape {inst.shape} differs from {shape}")
        fg = inst != 0
        count += bool(fg.any())
        merged |= fg
    return merged.astype(np.uint8) * 255, count
