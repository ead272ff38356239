"""Predicted objects as GeoJSON outlines, which QuPath opens by drag and drop (File > Import objects):
each object a detection with its class and the measurements of ``objects.csv``, in pixel coordinates
of the image (x right, y down, pixel (r, c) the square from (c, r) to (c + 1, r + 1), as in QuPath)."""

from __future__ import annotations

import json
import math
import numbers

import cv2
import numpy as np
import pandas as pd

from .overlay import PRED_COLOURS

# objects.csv columns that locate an object rather than measure it (the outline says where it is).
_NOT_MEASUREMENTS = {"id", "object", "centroid_y", "centroid_x", "bbox_top", "bbox_left", "bbox_bottom", "bbox_right"}


def object_rings(mask: np.ndarray, left: int, top: int) -> list[list[list[list[int]]]]:
    """The polygons of a binary crop whose top-left pixel is (``left``, ``top``) of the image: per
    4-connected part (parts touching at a corner are two polygons, so that no outline crosses
    itself: valid geometries for QuPath's JTS and shapely), its outline then its holes, each a closed
    ring along the pixels' edges (integer corners), so that its area is the object's pixel count, as
    QuPath traces a label image."""
    n, parts = cv2.connectedComponents(mask.astype(np.uint8), connectivity=4)
    if n > 2:
        return [polygon for k in range(1, n) for polygon in object_rings(parts == k, left, top)]
    grid = _corner_grid(mask)
    contours, hierarchy = cv2.findContours(grid, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    polygons = []
    for k, contour in enumerate(contours):
        if hierarchy[0][k][3] != -1:
            continue  # a hole: added to its outer ring below
        rings, child = [_ring(contour, grid, left, top)], hierarchy[0][k][2]
        while child != -1:
            rings.append(_ring(contours[child], grid, left, top))
            child = hierarchy[0][child][0]
        polygons.append(rings)
    return polygons


def _corner_grid(mask: np.ndarray) -> np.ndarray:
    """The mask on a grid of pixel corners and centres (pixel (r, c) covers rows 2r+1..2r+3 and columns
    2c+1..2c+3), so that the outline OpenCV traces on it runs along the pixels' edges."""
    grid = np.zeros((2 * mask.shape[0] + 3, 2 * mask.shape[1] + 3), np.uint8)
    grid[2:-1:2, 2:-1:2] = mask
    return cv2.dilate(grid, np.ones((3, 3), np.uint8))


def _ring(contour: np.ndarray, grid: np.ndarray, left: int, top: int) -> list[list[int]]:
    """A contour OpenCV traced on :func:`_corner_grid` as a closed ring of the image's pixel corners."""
    points = contour[:, 0, :]
    following = np.roll(points, -1, axis=0)
    # OpenCV's 8-connected tracing cuts a concave corner diagonally: put the corner back.
    diagonal = (points != following).all(axis=1)
    corner = np.where(grid[following[:, 1], points[:, 0]][:, None] > 0,
                      np.stack([points[:, 0], following[:, 1]], axis=1), np.stack([following[:, 0], points[:, 1]], axis=1))
    path = np.insert(points, np.flatnonzero(diagonal) + 1, corner[diagonal], axis=0)
    path = path[(path % 2 == 1).all(axis=1)] // 2  # the pixels' corners only
    before, after = np.roll(path, 1, axis=0), np.roll(path, -1, axis=0)
    (dx0, dy0), (dx1, dy1) = (path - before).T, (after - path).T
    turns = dx0 * dy1 != dy0 * dx1  # keep the corners where the outline turns
    ring = (path[turns] + (left, top)).tolist()
    return ring + ring[:1]


def object_features(objects: np.ndarray, table: pd.DataFrame, labels: np.ndarray, classes: list[str]) -> list[dict]:
    """One GeoJSON feature per row of ``table`` (:func:`~.measure.measure_objects` of ``objects``, the
    object id map): a QuPath detection named by its object id, classified by the class most of its
    pixels have in ``labels`` (coloured as in the overlays), measured by the table's columns."""
    features = []
    for row in table.to_dict("records"):
        top, left, bottom, right = (int(row[k]) for k in ("bbox_top", "bbox_left", "bbox_bottom", "bbox_right"))
        mask = objects[top:bottom, left:right] == row["object"]
        polygons = object_rings(mask, left, top)
        geometry = ({"type": "Polygon", "coordinates": polygons[0]} if len(polygons) == 1
                    else {"type": "MultiPolygon", "coordinates": polygons})
        value = int(np.bincount(labels[top:bottom, left:right][mask].ravel()).argmax()) if len(classes) > 1 else 1
        measurements = {k: float(v) for k, v in row.items()
                        if k not in _NOT_MEASUREMENTS and isinstance(v, numbers.Real) and math.isfinite(v)}
        r, g, b = PRED_COLOURS[(max(value, 1) - 1) % len(PRED_COLOURS)]
        # The class colour as QuPath 0.4+ writes it, and as the packed ARGB int of earlier versions.
        classification = {"name": classes[max(value, 1) - 1], "color": [r, g, b],
                          "colorRGB": (255 << 24 | r << 16 | g << 8 | b) - (1 << 32)}
        features.append({"type": "Feature", "geometry": geometry, "properties": {
            "objectType": "detection", "name": str(row["object"]), "classification": classification,
            "measurements": measurements}})
    return features


def encode_geojson(features: list[dict]) -> bytes:
    """A FeatureCollection of ``features`` as compact UTF-8 JSON."""
    return json.dumps({"type": "FeatureCollection", "features": features}, separators=(",", ":")).encode()
