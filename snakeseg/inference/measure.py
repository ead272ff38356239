"""Per-object measurements of a segmented image (as CellProfiler's or scikit-image's regionprops give):
what a user counts and measures next, in pixels of the original image."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd

OBJECT_COLUMNS = ["id", "object", "area", "centroid_y", "centroid_x", "bbox_top", "bbox_left", "bbox_bottom",
                  "bbox_right", "equivalent_diameter", "eccentricity", "solidity", "perimeter", "major_axis_length",
                  "minor_axis_length", "form_factor", "mean_intensity", "integrated_intensity"]
_PROPERTIES = ("label", "area", "centroid", "bbox", "equivalent_diameter_area", "eccentricity", "solidity",
               "perimeter", "axis_major_length", "axis_minor_length", "intensity_mean")
_NAMES = {"label": "object", "centroid-0": "centroid_y", "centroid-1": "centroid_x", "bbox-0": "bbox_top",
          "bbox-1": "bbox_left", "bbox-2": "bbox_bottom", "bbox-3": "bbox_right",
          "equivalent_diameter_area": "equivalent_diameter", "axis_major_length": "major_axis_length",
          "axis_minor_length": "minor_axis_length", "intensity_mean": "mean_intensity"}


def foreground_objects(labels: np.ndarray) -> np.ndarray:
    """The 8-connected components of a predicted label map's foreground, as object ids 1..n; with
    several classes, of each class apart (touching regions of two classes are two objects)."""
    def components(mask):
        return cv2.connectedComponents(mask.astype(np.uint8), connectivity=8, ltype=cv2.CV_32S)

    if labels.max(initial=0) <= 1:
        return components(labels > 0)[1]
    objects, found = np.zeros(labels.shape, np.int32), 0
    for value in range(1, int(labels.max()) + 1):
        n, parts = components(labels == value)
        inside = parts > 0
        objects[inside] = parts[inside] + found
        found += n - 1
    return objects


def measure_objects(image_id: str, objects: np.ndarray, image: np.ndarray,
                    channels: np.ndarray | None = None) -> pd.DataFrame:
    """One row per object of an id map (0 background): area, centroid and bounding box (bottom and right
    exclusive) in pixels, the diameter of a disc of its area, eccentricity, solidity (area over its
    convex hull's), perimeter, the axes of its ellipse of the same second moments, form factor
    (4 pi area / perimeter^2), and the mean and sum (CellProfiler's integrated intensity) of ``image`` over it:
    a plane of values (:func:`snakeseg.data.imageio.stored_intensity`), or an image's channels' mean.
    With ``channels`` (H x W or H x W x C), also each channel's mean over the object, as
    ``mean_intensity_ch<k>``: a marker's level per nucleus in a multi-channel image."""
    from skimage.measure import regionprops_table

    grey = image.mean(axis=2, dtype=np.float32) if image.ndim == 3 else image.astype(np.float32, copy=False)
    table = pd.DataFrame(regionprops_table(objects, intensity_image=grey, properties=_PROPERTIES)).rename(columns=_NAMES)
    table.insert(0, "id", image_id)
    table["area"] = table["area"].astype(np.int64)
    table["integrated_intensity"] = (table["mean_intensity"] * table["area"]).round(2)
    # CellProfiler's FormFactor (QuPath's circularity): 1 for a disc; none for an object without a perimeter.
    perimeter = table["perimeter"].where(table["perimeter"] > 0)
    table["form_factor"] = (4 * np.pi * table["area"] / perimeter ** 2).round(4)
    for column in ("centroid_y", "centroid_x", "equivalent_diameter", "perimeter", "major_axis_length",
                   "minor_axis_length", "mean_intensity"):
        table[column] = table[column].round(2)
    table[["eccentricity", "solidity"]] = table[["eccentricity", "solidity"]].round(4)
    table = table.reindex(columns=OBJECT_COLUMNS)
    if channels is not None:
        planes = channels[..., None] if channels.ndim == 2 else channels
        index, area = objects.ravel(), table["area"].to_numpy()
        for k in range(planes.shape[2]):
            sums = np.bincount(index, weights=planes[..., k].ravel().astype(np.float64), minlength=objects.max() + 1)
            table[f"mean_intensity_ch{k}"] = (sums[table["object"].to_numpy()] / area).round(2)
    return table
