"""Contour overlays: an image with its predicted (and, when known, true) outlines drawn on it."""

from __future__ import annotations

import cv2
import numpy as np

from ..data.masks import IGNORE

# RGB contour colours: predicted class 1, 2, 3, ... and the ground truth (any class).
PRED_COLOURS = [(255, 255, 0), (255, 0, 255), (0, 255, 255), (255, 128, 0), (128, 128, 255)]
TRUTH_COLOUR = (0, 200, 0)


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
