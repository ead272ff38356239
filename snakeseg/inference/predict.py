"""Prediction at the original image size: the model's input convention and its output as label maps."""

from __future__ import annotations

import cv2
import numpy as np

from ..data.imageio import read_mask
from ..data.normalize import normalize


def model_input(images: list[np.ndarray], size: int, mode: str = "none", polarity: str = "keep") -> np.ndarray:
    """Images resized to ``size`` squares (area interpolation) and normalised under ``mode`` as the
    training pipeline does (``none``: times float32(1/255), so the model sees what it saw in training)."""
    return np.stack([normalize(cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA), mode, polarity) for img in images])


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
