"""Prediction at the original image size, and contour overlays."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from .dataprep import resize_pair
from .imageio import read_image, read_mask

PRED_COLOUR = (255, 255, 0)   # yellow in RGB: predicted contours
TRUTH_COLOUR = (0, 200, 0)    # green: ground-truth contours


def iter_items(merged_dirs: list[str]) -> Iterator[tuple[dict, np.ndarray, np.ndarray]]:
    """(index entry, RGB image, truth label map) for every usable image of the given shards."""
    for merged in map(Path, merged_dirs):
        index = json.loads((merged / "index.json").read_text())
        for item in index["items"]:
            yield ({**item, "shard": index["shard"]}, read_image(item["image"]),
                   read_mask(merged / f"{item['id']}.png"))


def model_input(images: list[np.ndarray], size: int) -> np.ndarray:
    """Resize like the TFRecords were made and scale to [0, 1]: the models' input convention."""
    return np.stack([resize_pair(img, img[..., 0], size)[0] for img in images]).astype(np.float32) / 255.0


def to_original(prob: np.ndarray, height: int, width: int, threshold: float) -> np.ndarray:
    """Resize a probability map back to the image's size and threshold it to a 0/255 mask."""
    prob = cv2.resize(prob.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    return (prob >= threshold).astype(np.uint8) * 255


def overlay(image: np.ndarray, pred: np.ndarray, truth: np.ndarray | None = None, thickness: int = 1) -> np.ndarray:
    """The image with predicted (yellow) and, if a label map is given, true (green) contours drawn on it."""
    canvas = np.ascontiguousarray(image.copy())
    for mask, colour in ((None if truth is None else truth == 1, TRUTH_COLOUR), (pred > 0, PRED_COLOUR)):
        if mask is None:
            continue
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(canvas, contours, -1, colour, thickness)
    return canvas


def batched(iterable, n: int):
    batch = []
    for x in iterable:
        batch.append(x)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch
