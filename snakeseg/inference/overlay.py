"""Contour overlays: an image with its predicted (and, when known, true) outlines drawn on it."""

from __future__ import annotations

import cv2
import numpy as np

from ..data.masks import IGNORE
from .instances import outlines

# RGB contour colours: predicted class 1, 2, 3, ... and the ground truth (any class).
PRED_COLOURS = [(255, 255, 0), (255, 0, 255), (0, 255, 255), (255, 128, 0), (128, 128, 255)]
TRUTH_COLOUR = (0, 200, 0)


def line_width(setting: int | str, shape: tuple[int, ...]) -> int:
    """The contour width of ``predict.overlay_thickness``: a number of pixels, or ``auto``, a pixel per
    1,000 of the image's longer side, so a slide's outlines stay visible when it is viewed whole."""
    return max(1, round(max(shape[:2]) / 1000)) if setting == "auto" else int(setting)


def overlay(image: np.ndarray, pred: np.ndarray, truth: np.ndarray | None = None, thickness: int = 1,
            instances: np.ndarray | None = None) -> np.ndarray:
    """The image with predicted contours (class 1 yellow, 2 magenta, 3 cyan, ...), or the outline
    of each predicted object when ``instances`` (object ids) are given, and, when a truth label map
    is given, the true foreground's contours in green."""
    canvas = np.ascontiguousarray(image.copy())
    layers = [] if truth is None else [((truth > 0) & (truth != IGNORE), TRUTH_COLOUR)]
    if instances is None:
        layers += [(pred == c, PRED_COLOURS[(c - 1) % len(PRED_COLOURS)]) for c in range(1, int(pred.max()) + 1)]
    for mask, colour in layers:
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(canvas, contours, -1, colour, thickness)
    if instances is not None:
        edge = outlines(instances).astype(np.uint8)
        if thickness > 1:
            edge = cv2.dilate(edge, np.ones((thickness, thickness), np.uint8))
        canvas[edge > 0] = PRED_COLOURS[0]
    return canvas
