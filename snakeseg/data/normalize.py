"""Per-image intensity normalisation (``data.normalize``), in NumPy for prediction; the training
pipeline computes the same statistics in TensorFlow (``training.patches``).

An image's statistics are an ``(offset, scale)`` pair in units of ``x / 255``; the network sees
``(x / 255 - offset) * scale``, clipped to [0, 1] for ``percentile``:
- ``none``: (0, 1), the image in [0, 1];
- ``zscore``: mean and 1 / standard deviation over all pixels and channels (nnU-Net's default
  for non-CT images, taken over the three channels together so colour balance is kept);
- ``percentile``: the 0.5th and 99.5th percentiles (of the 256-bin histogram) mapped to 0 and 1.

``data.polarity: auto`` inverts grey images with a bright background (brightfield: dark nuclei on
white) so that objects are bright on dark, as in fluorescence, by negating ``scale``; colour images
(H&E, photos) are never inverted. The DSB2018 winners did the same.
"""

from __future__ import annotations

import numpy as np

MODES = ("none", "zscore", "percentile")
LOW, HIGH = 0.005, 0.995
#: An image is grey when its channels differ by at most this much (0..255) on average, and bright
#: when more than half its pixels are above mid-grey; both judged on every 4th pixel of every 4th row.
GREY_SPREAD = 4.0
MID_GREY = 127


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


def bright_grey(image: np.ndarray) -> bool:
    """Whether a uint8 image is grey with a bright background (brightfield microscopy)."""
    sample = image[::4, ::4]
    if sample.ndim == 3:
        spread = sample.max(axis=-1).astype(np.int16) - sample.min(axis=-1)
        if spread.mean() > GREY_SPREAD:
            return False
    return bool((sample > MID_GREY).mean() > 0.5)


def inverted(stats: tuple[float, float], mode: str) -> tuple[float, float]:
    """The stats of ``1 - x``: zscore negates; none and percentile map the top of the range to 0."""
    offset, scale = stats
    return (offset if mode == "zscore" else offset + 1 / scale), -scale


def intensity_stats(image: np.ndarray, mode: str, polarity: str = "keep") -> tuple[float, float]:
    """``(offset, scale)`` of a uint8 image under ``mode``, inverted for bright grey images when
    ``polarity`` is ``auto``."""
    stats = _stats(image, mode)
    return inverted(stats, mode) if polarity == "auto" and bright_grey(image) else stats


def _stats(image: np.ndarray, mode: str) -> tuple[float, float]:
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


def normalize(image: np.ndarray, mode: str, polarity: str = "keep") -> np.ndarray:
    """``image`` (uint8) as the network sees it under ``mode`` and ``polarity``."""
    return apply_stats(image, intensity_stats(image, mode, polarity), mode)
