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


#: Pixels after which a batch of images ends early: a shard of slides is decoded one slide at a time.
BATCH_PIXELS = 2048 * 2048


def batched(iterable, n: int, image_of=None):
    """Lists of up to ``n`` items of ``iterable``, read as they are needed; with ``image_of`` (an
    item's decoded image), a list also ends once its images hold :data:`BATCH_PIXELS`."""
    batch, pixels = [], 0
    for x in iterable:
        batch.append(x)
        if image_of is not None:
            h, w = image_of(x).shape[:2]
            pixels += h * w
        if len(batch) == n or pixels >= BATCH_PIXELS:
            yield batch
            batch, pixels = [], 0
    if batch:
        yield batch
