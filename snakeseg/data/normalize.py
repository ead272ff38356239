"""Per-image intensity normalisation (``data.normalize``), in NumPy for prediction; the training
pipeline computes the same statistics in TensorFlow (``training.patches``).

An image's statistics are an ``(offset, scale)`` pair in units of ``x / 255``; the network sees
``(x / 255 - offset) * scale``, clipped to [0, 1] for ``percentile``:
- ``none``: (0, 1), the image in [0, 1];
- ``zscore``: mean and 1 / standard deviation over all pixels and channels (nnU-Net's default
  for non-CT images, taken over the three channels together so colour balance is kept);
- ``percentile``: the 0.5th and 99.5th percentiles (of the 256-bin histogram) mapped to 0 and 1.
"""

from __future__ import annotations

import numpy as np

MODES = ("none", "zscore", "percentile")
LOW, HIGH = 0.005, 0.995


def _check(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"data.normalize must be one of {', '.join(MODES)}, not {mode!r}")


def histogram(image: np.ndarray, rows: int = 256) -> np.ndarray:
    """The 256-bin histogram of a uint8 image, counted a band of rows at a time (a whole-image
    float or int64 copy of a 20,000-px slide would be 4 to 8 times its size)."""
    counts = np.zeros(256, np.int64)
    for y in range(0, image.shape[0], rows):
        counts += np.bincount(image[y:y + rows].reshape(-1), minlength=256)
    return counts


def intensity_stats(image: np.ndarray, mode: str) -> tuple[float, float]:
    """``(offset, scale)`` of a uint8 image under ``mode``."""
    _check(mode)
    if mode == "none":
        return 0.0, 1.0
    counts = histogram(image)
    if mode == "zscore":
        values = np.arange(256) / 255
        mean = float((counts * values).sum() / image.size)
        std = float(np.sqrt(max((counts * values ** 2).sum() / image.size - mean ** 2, 0)))
        return mean, 1 / max(std, 1e-3)
    cdf = np.cumsum(counts) / image.size
    low, high = int(np.argmax(cdf >= LOW)), int(np.argmax(cdf >= HIGH))
    return low / 255, 255 / max(high - low, 1)


def apply_stats(x: np.ndarray, stats: tuple[float, float], mode: str) -> np.ndarray:
    """Float32 network input from pixels ``x`` (uint8, or float in 0..255) and their image's stats."""
    offset, scale = stats
    out = (x.astype(np.float32) * np.float32(1 / 255) - np.float32(offset)) * np.float32(scale)
    return np.clip(out, 0, 1) if mode == "percentile" else out


def normalize(image: np.ndarray, mode: str) -> np.ndarray:
    """``image`` (uint8) as the network sees it under ``mode``."""
    return apply_stats(image, intensity_stats(image, mode), mode)
