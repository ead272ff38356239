"""Prediction at the original image size, and contour overlays."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from .dataprep import read_image_bytes, resize_pair
from .imageio import decode_image, read_mask
from .masks import IGNORE

# RGB contour colours: predicted class 1, 2, 3, ... and the ground truth (any class).
PRED_COLOURS = [(255, 255, 0), (255, 0, 255), (0, 255, 255), (255, 128, 0), (128, 128, 255)]
TRUTH_COLOUR = (0, 200, 0)


def iter_items(merged_dirs: list[str]) -> Iterator[tuple[dict, np.ndarray, np.ndarray]]:
    """(index entry, RGB image, truth label map) for every usable image of the given shards."""
    for merged in map(Path, merged_dirs):
        index = json.loads((merged / "index.json").read_text())
        for item in index["items"]:
            yield ({**item, "shard": index["shard"]}, decode_image(read_image_bytes(item), item["source"]),
                   read_mask(merged / f"{item['id']}.png"))


def model_input(images: list[np.ndarray], size: int) -> np.ndarray:
    """Resize like the TFRecords were made and scale to [0, 1]: the models' input convention (times
    float32(1/255), as ``training.to_float``: bit for bit what the model saw in training)."""
    return np.stack([resize_pair(img, img[..., 0], size)[0] for img in images]).astype(np.float32) * np.float32(1 / 255)


def to_labels(prob: np.ndarray, height: int, width: int, threshold: float) -> np.ndarray:
    """Model output (size x size x C) -> label map at the image's size.

    One channel (sigmoid): foreground where the resized probability >= threshold (0/1).
    Several (softmax over background + classes): the most probable class (0..C-1).
    """
    prob = prob.astype(np.float32)
    resized = cv2.resize(prob, (width, height), interpolation=cv2.INTER_LINEAR)
    if prob.shape[-1] == 1:
        return (resized >= threshold).astype(np.uint8)
    return resized.argmax(axis=-1).astype(np.uint8)


def mask_png(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """What a predicted mask file stores: 0/255 for binary tasks, class indices otherwise."""
    return labels * 255 if n_classes == 1 else labels


def read_prediction(path, n_classes: int) -> np.ndarray:
    """Inverse of :func:`mask_png`."""
    stored = read_mask(path)
    return (stored > 0).astype(np.uint8) if n_classes == 1 else stored


def overlay(image: np.ndarray, pred: np.ndarray, truth: np.ndarray | None = None, thickness: int = 1) -> np.ndarray:
    """The image with predicted contours (class 1 yellow, 2 magenta, 3 cyan, ...) and, when a
    truth label map is given, the true foreground's contours in green."""
    canvas = np.ascontiguousarray(image.copy())
    layers = [] if truth is None else [((truth > 0) & (truth != IGNORE), TRUTH_COLOUR)]
    layers += [(pred == c, PRED_COLOURS[(c - 1) % len(PRED_COLOURS)]) for c in range(1, int(pred.max()) + 1)]
    for mask, colour in layers:
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
