"""Instance label maps from a predicted foreground: splitting touching objects, outlines and 16-bit PNG storage."""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage as ndi
from skimage.morphology import h_maxima
from skimage.segmentation import watershed

METHODS = ("components", "watershed")
EIGHT = np.ones((3, 3), dtype=bool)


def _consecutive(labels: np.ndarray) -> np.ndarray:
    """Non-negative labels renumbered 1..n in increasing order, 0 kept as background."""
    present = np.bincount(labels.ravel()) > 0
    present[0] = False
    lookup = np.cumsum(present, dtype=np.int32) * present
    return lookup[labels]


def split_instances(foreground: np.ndarray | None, probability: np.ndarray | None = None, method: str = "watershed",
                    min_size: int = 0, min_distance: int = 3, h: float = 2.0, smooth: float = 1.0,
                    threshold: float = 0.5) -> np.ndarray:
    """Instance labels (int32, 0 background, 1..n consecutive) of a predicted foreground (H x W).

    ``components``: 8-connected components. ``watershed``: each component is split by a watershed on
    the negative distance transform, seeded at its h-maxima (maxima at least ``h`` px above their
    surroundings, after a Gaussian of ``smooth`` px; seeds closer than ``min_distance`` px are merged).
    A ``probability`` map weights the distance (distance * probability); the binary ``foreground``
    (``probability > threshold`` when it is None) alone decides which pixels are objects. Objects of
    fewer than ``min_size`` pixels are then removed."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid methods: {', '.join(METHODS)}")
    if foreground is None:
        if probability is None:
            raise ValueError("give a foreground mask, a probability map or both")
        foreground = np.asarray(probability) > threshold
    fg = np.asarray(foreground) > 0
    if fg.ndim != 2:
        raise ValueError(f"foreground must be H x W, got shape {fg.shape}")
    if probability is not None and np.shape(probability) != fg.shape:
        raise ValueError(f"probability shape {np.shape(probability)} differs from foreground shape {fg.shape}")
    components, n = ndi.label(fg, structure=EIGHT)
    if n == 0:
        return np.zeros(fg.shape, dtype=np.int32)
    labels = components
    if method == "watershed":
        if fg.all():  # no background to measure from: one plateau
            dist = np.ones(fg.shape)
        else:  # exact Euclidean distance, as scipy's distance_transform_edt but several times faster
            dist = cv2.distanceTransform(fg.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE).astype(np.float64)
        if probability is not None:
            dist = dist * np.clip(np.asarray(probability, dtype=np.float64), 0.0, 1.0)
        if smooth > 0:
            dist = ndi.gaussian_filter(dist, smooth) * fg
        peaks = fg & (h_maxima(dist, h).astype(bool) if h > 0 else dist == ndi.maximum_filter(dist, 3))
        if min_distance > 1:  # seeds within about min_distance px of each other become one marker
            size = 2 * (min_distance // 2) + 1
            grouped, _ = ndi.label(ndi.binary_dilation(peaks, np.ones((size, size), bool)), EIGHT)
        else:
            grouped, _ = ndi.label(peaks, structure=EIGHT)
        # one marker per (component, seed group), so that no marker spans two components
        _, ids = np.unique(np.stack([components[peaks], grouped[peaks]]), axis=1, return_inverse=True)
        markers = np.zeros(fg.shape, dtype=np.int32)
        markers[peaks] = ids.ravel() + 1
        labels = watershed(-dist, markers, connectivity=2, mask=fg)
        unseeded = fg & (labels == 0)  # a component without a seed keeps its own label
        labels[unseeded] = components[unseeded] + labels.max()
    if min_size > 0:
        labels = _consecutive(labels)
        small = np.bincount(labels.ravel()) < min_size
        small[0] = False
        labels[small[labels]] = 0
    return _consecutive(labels)


def outlines(labels: np.ndarray) -> np.ndarray:
    """Boolean map of boundary pixels: object pixels with a 4-neighbour of another label (outside the image counts
    as background)."""
    labels = np.asarray(labels)
    padded = np.pad(labels, 1, mode="constant")
    centre = padded[1:-1, 1:-1]
    edge = ((padded[:-2, 1:-1] != centre) | (padded[2:, 1:-1] != centre)
            | (padded[1:-1, :-2] != centre) | (padded[1:-1, 2:] != centre))
    return edge & (labels != 0)


def encode_instances_png(labels: np.ndarray) -> bytes:
    """A label map as a 16-bit single-channel PNG (labels 0..65535)."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be H x W, got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 65535):
        raise ValueError(f"a 16-bit PNG holds labels 0..65535, got {labels.min()}..{labels.max()}")
    ok, buf = cv2.imencode(".png", labels.astype(np.uint16))
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def decode_instances_png(data: bytes) -> np.ndarray:
    """The label map (int32) stored by ``encode_instances_png``."""
    img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None or img.ndim != 2:
        raise ValueError("not a single-channel PNG label map")
    return img.astype(np.int32)
