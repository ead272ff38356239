"""Reading merged shards back: each usable image with its truth label map, for prediction and scoring."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import numpy as np

from .imageio import decode_image, read_mask
from .labelmaps import decode_instances, instances_file
from .staging import Pack


def read_index(merged_dir: str | Path) -> dict:
    """The ``index.json`` of a merged shard (rule merge_masks)."""
    return json.loads((Path(merged_dir) / "index.json").read_text())


def iter_truth(merged_dirs: list[str], truth: bool = True) -> Iterator[tuple[dict, np.ndarray | None]]:
    """(index entry with its ``shard``, truth label map) for every usable image of the given shards;
    ``truth=False``: None for the label map, not read."""
    for merged in map(Path, merged_dirs):
        index = read_index(merged)
        for item in index["items"]:
            label_map = read_mask(merged / f"{item['id']}.png") if truth else None
            yield {**item, "shard": index["shard"]}, label_map


def truth_instances(merged_dir: str | Path, item: dict) -> np.ndarray | None:
    """The image's true object ids (0 background), or None when its masks do not tell objects apart."""
    if not item.get("instances"):
        return None
    return decode_instances(instances_file(Path(merged_dir), f"{item['id']}.instances").read_bytes())


def iter_items(merged_dirs: list[str], raw_dirs: list[str], bit_depth: int | str = "auto",
               channels: list[int] | None = None, truth: bool = True
               ) -> Iterator[tuple[dict, np.ndarray, np.ndarray | None]]:
    """(index entry with its ``shard``, RGB image, truth label map) for every usable image;
    ``raw_dirs[i]`` is the staged shard (rule unzip) of ``merged_dirs[i]``; 16-bit images read as
    ``data.bit_depth``, the channels ``data.channels`` names. ``truth=False``: None for the truth,
    not read (prediction alone needs none)."""
    if len(merged_dirs) != len(raw_dirs):
        raise ValueError(f"{len(merged_dirs)} merged shards but {len(raw_dirs)} staged ones")
    for merged, raw in zip(merged_dirs, raw_dirs):
        with Pack(raw) as pack:
            for item, label_map in iter_truth([merged], truth):
                image = decode_image(pack.read_at(*item["image_at"], what=item["source"]), item["source"], bit_depth, channels)
                yield item, image, label_map
