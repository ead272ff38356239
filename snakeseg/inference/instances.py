"""Instance label maps from a predicted foreground: splitting touching objects and their outlines."""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage as ndi
from skimage.morphology import h_maxima
from skimage.segmentation import watershed

METHODS = ("components", "watershed")
EIGHT = np.ones((3, 3), dtype=bool)
BLOCK = 1024  # side of the squares a large image's objects are split in


def _renumbered(labels: np.ndarray, min_size: int = 1) -> np.ndarray:
    """Non-negative labels renumbered 1..n in increasing order, 0 kept as background, objects of
    fewer than ``min_size`` pixels removed."""
    keep = np.bincount(labels.ravel()) >= max(min_size, 1)
    keep[0] = False
    lookup = np.cumsum(keep, dtype=np.int32) * keep
    return lookup[labels]


def split_instances(foreground: np.ndarray | None, probability: np.ndarray | None = None, method: str = "watershed",
                    min_size: int = 0, min_distance: int = 3, h: float = 2.0, smooth: float = 1.0,
                    threshold: float = 0.5, block: int = BLOCK) -> np.ndarray:
    """Instance labels (int32, 0 background, 1..n consecutive) of a predicted foreground (H x W).

    ``components``: 8-connected components. ``watershed``: each component is split by a watershed on
    the negative distance transform, seeded at its h-maxima (maxima at least ``h`` px above their
    surroundings, after a Gaussian of ``smooth`` px; seeds closer than ``min_distance`` px are merged).
    A ``probability`` map weights the distance (distance * probability); the binary ``foreground``
    (``probability > threshold`` when it is None) alone decides which pixels are objects. Objects of
    fewer than ``min_size`` pixels are then removed. The components are split a ``block``-px square of
    the image at a time, each with the components whose top-left corner lies in it."""
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
    labels = np.zeros(fg.shape, dtype=np.int32)
    done = 0
    margin = int(4 * smooth + 0.5) + 1  # background beyond the Gaussian's reach (4 sigma) around the blocks
    for rows, cols, ids in _blocks(components, block, margin):
        crop = np.isin(components[rows, cols], ids) if len(ids) < n else fg[rows, cols]
        objects = components[rows, cols] * crop
        if method == "watershed":
            prob = None if probability is None else probability[rows, cols]
            objects = _watershed(crop, objects, prob, min_distance, h, smooth)
        objects = _renumbered(objects, min_size)
        inside = objects > 0
        labels[rows, cols][inside] = objects[inside] + done
        done += int(objects.max())
    return labels


def _blocks(components: np.ndarray, block: int, margin: int):
    """(rows, cols, component ids) per ``block``-px square of the image holding a component's top-left
    corner: the bounding box of those components with ``margin`` px of background (what the distance
    transform and the Gaussian see), so a slide's float maps are a block's, not the slide's."""
    boxes = ndi.find_objects(components)
    groups: dict[tuple[int, int], list[int]] = {}
    for i, (r, c) in enumerate(boxes, start=1):
        groups.setdefault((r.start // block, c.start // block), []).append(i)
    height, width = components.shape
    for key in sorted(groups):
        ids = groups[key]
        top, left = (min(boxes[i - 1][axis].start for i in ids) for axis in (0, 1))
        bottom, right = (max(boxes[i - 1][axis].stop for i in ids) for axis in (0, 1))
        yield (slice(max(0, top - margin), min(height, bottom + margin)),
               slice(max(0, left - margin), min(width, right + margin)), ids)


def _watershed(fg: np.ndarray, components: np.ndarray, probability: np.ndarray | None, min_distance: int,
               h: float, smooth: float) -> np.ndarray:
    """Labels (not consecutive) of the components of ``fg`` (their ids in ``components``) split by
    the watershed of :func:`split_instances`."""
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
    return labels


def outlines(labels: np.ndarray) -> np.ndarray:
    """Boolean map of boundary pixels: object pixels with a 4-neighbour of another label (outside the image counts
    as background)."""
    labels = np.asarray(labels)
    padded = np.pad(labels, 1, mode="constant")
    centre = padded[1:-1, 1:-1]
    edge = ((padded[:-2, 1:-1] != centre) | (padded[2:, 1:-1] != centre)
            | (padded[1:-1, :-2] != centre) | (padded[1:-1, 2:] != centre))
    return edge & (labels != 0)
