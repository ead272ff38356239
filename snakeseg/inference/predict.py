"""Prediction at the original image size: the model's input convention and its output as label maps."""

from __future__ import annotations

import cv2
import numpy as np

from ..data.imageio import read_mask
from ..data.normalize import normalize


def model_input(images: list[np.ndarray], size: int, mode: str = "none") -> np.ndarray:
    """Images resized to ``size`` squares (area interpolation) and normalised under ``mode`` as the
    training pipeline does (``none``: times float32(1/255), so the model sees what it saw in training)."""
    return np.stack([normalize(cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA), mode) for img in images])


def to_labels(prob: np.ndarray, height: int, width: int, threshold: float) -> np.ndarray:
    """Model output (size x size x C) -> label map at the image's size.

    One channel (sigmoid): foreground where the resized probability >= threshold (0/1).
    Several (softmax over background + classes): the most probable class (0..C-1).
    """
    prob = prob.astype(np.float32)
    if prob.shape[:2] == (height, width):  # already at the image's size (Predictor's output)
        resized = prob[..., 0] if prob.shape[-1] == 1 else prob
    else:
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


def batched(iterable, n: int):
    batch = []
    for x in iterable:
        batch.append(x)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch
