"""Predicted objects as GeoJSON outlines, which QuPath opens by drag and drop (File > Import objects):
each object a detection with its class and the measurements of ``objects.csv``, in pixel coordinates
of the image (x right, y down, a pixel's centre at +0.5, as QuPath places it)."""

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


def object_rings(mask: np.ndarray, left: int, top: int) -> list[list[list[list[float]]]]:
    """The polygons of a binary crop whose top-left pixel is (``left``, ``top``) of the image: per
    8-connected part, its outline then its holes, each a closed ring through the centres of the
    edge pixels. A part one pixel wide or tall is outlined by its pixels' edges instead."""
    contours, hierarchy = cv2.findContours(mask.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    polygons = []
    for k, contour in enumerate(contours):
        if hierarchy[0][k][3] != -1:
            continue  # a hole: added to its outer ring below
        rings, child = [_ring(contour, left, top)], hierarchy[0][k][2]
        while child != -1:
            if len(contours[child]) >= 3:
                rings.append(_ring(contours[child], left, top))
            child = hierarchy[0][child][0]
        polygons.append(rings)
    return polygons


def _ring(contour: np.ndarray, left: int, top: int) -> list[list[float]]:
    points = contour[:, 0, :].astype(np.float64) + (left + 0.5, top + 0.5)
    if len(points) < 3:  # a dot or a line of pixels: the rectangle of their edges
        (x0, y0), (x1, y1) = points.min(axis=0) - 0.5, points.max(axis=0) + 0.5
        points = np.array([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
    return [[round(x, 1), round(y, 1)] for x, y in points] + [[round(points[0][0], 1), round(points[0][1], 1)]]


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
        features.append({"type": "Feature", "geometry": geometry, "properties": {
            "objectType": "detection", "name": str(row["object"]),
            "classification": {"name": classes[max(value, 1) - 1],
                               "color": list(PRED_COLOURS[(max(value, 1) - 1) % len(PRED_COLOURS)])},
            "measurements": measurements}})
    return features


def encode_geojson(features: list[dict]) -> bytes:
    """A FeatureCollection of ``features`` as compact UTF-8 JSON."""
    return json.dumps({"type": "FeatureCollection", "features": features}, separators=(",", ":")).encode()
