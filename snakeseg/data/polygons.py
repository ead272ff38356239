"""Masks drawn as polygons in QuPath (or any tool that exports GeoJSON: HuBMAP's kidney annotations),
written out as mask images beside their images, so that the data become a paired folder."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from .. import atomic
from ..errors import InputError
from .headers import image_size
from .imageio import encode_png
from .labelmaps import PNG_LABELS, encode_instances
from .rle import images_by_key

SUFFIXES = (".geojson", ".json")
_SHIFT = 4  # fillPoly's fractional bits: vertices at 1/16 pixel
_STRIP = 1024  # rows filled at a time: a slide-wide region needs 9 bytes a pixel of one strip


def read_features(path: Path) -> list[dict]:
    """The features of a GeoJSON file: a FeatureCollection, a list of features (QuPath before 0.4,
    HuBMAP) or one feature."""
    try:
        data = json.loads(Path(path).read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise InputError(str(path), f"is not JSON ({err})", "export the objects again as GeoJSON") from None
    if isinstance(data, dict) and data.get("type") == "FeatureCollection":
        data = data.get("features", [])
    features = data if isinstance(data, list) else [data]
    if not all(isinstance(f, dict) and "geometry" in f for f in features):
        raise InputError(str(path), "is not GeoJSON features (each needs a geometry)",
                         "export the objects from QuPath with File > Export objects as GeoJSON")
    return features


def class_name(feature: dict) -> str | None:
    """A feature's class: QuPath's ``classification.name`` (or a plain ``classification`` string)."""
    value = (feature.get("properties") or {}).get("classification")
    return value.get("name") if isinstance(value, dict) else value


def fill_geometry(canvas: np.ndarray, geometry: dict, value: int) -> bool:
    """Set the pixels of ``canvas`` whose centres a Polygon or MultiPolygon covers (holes left out;
    coordinates in pixels, pixel (r, c) the square from (c, r) to (c + 1, r + 1), as in QuPath) to
    ``value``; a GeometryCollection's polygons alike. False for other geometries (points, lines), which
    have no area."""
    kind = (geometry or {}).get("type")
    if kind == "GeometryCollection":  # QuPath writes one for an outline with stray lines or points
        filled = [fill_geometry(canvas, member, value) for member in geometry.get("geometries", [])]
        return any(filled)
    if kind not in ("Polygon", "MultiPolygon"):
        return False
    for rings in [geometry["coordinates"]] if kind == "Polygon" else geometry["coordinates"]:
        rings = [np.asarray(r, np.float64)[:, :2] for r in rings]
        points = np.vstack(rings)
        (left, top), (right, bottom) = points.min(axis=0), points.max(axis=0)
        left, top = max(int(left), 0), max(int(top), 0)
        right, bottom = min(int(np.ceil(right)), canvas.shape[1]), min(int(np.ceil(bottom)), canvas.shape[0])
        for y0 in range(top, bottom, _STRIP) if right > left else ():  # none outside the image
            y1 = min(y0 + _STRIP, bottom)
            inside = _centres_inside(rings, left, y0, right - left, y1 - y0)
            canvas[y0:y1, left:right][inside] = value
    return True


def _centres_inside(rings: list[np.ndarray], left: int, top: int, width: int, height: int) -> np.ndarray:
    """Which pixel centres of a window a polygon (outer ring, holes) covers: OpenCV fills it on a grid
    three times finer, whose middle sub-pixels are the centres, 1.5 sub-pixels from any edge drawn
    along pixel edges, so its inclusive rounding never decides (a QuPath rectangle from (1, 1) to
    (5, 5) covers 4 x 4 pixels)."""
    fine = np.zeros((3 * height, 3 * width), np.uint8)
    points = [np.round(((r - (left, top)) * 3 - 0.5) * 2 ** _SHIFT).astype(np.int32) for r in rings]
    cv2.fillPoly(fine, points, 1, lineType=cv2.LINE_8, shift=_SHIFT)  # the holes: even-odd
    return fine[1::3, 1::3] > 0


def write_masks(geojson_dir: str, images_dir: str, out_dir: str, classes: list[str] | None = None,
                nuclei: bool = False) -> dict:
    """A mask per image of ``images_dir`` that has a ``<stem>.geojson`` (or ``.json``, or the image's
    file name with that suffix) in ``geojson_dir``, in ``out_dir/<stem>.png``. Without ``classes``:
    0/255 for one polygon feature, object ids 1..n (16-bit PNG; a 32-bit TIFF past 65,535) for
    several, one object a feature; with ``classes``, class indices 1..k by each feature's class name
    (``masks.format: index``), features of other classes left out. Later features cover earlier
    ones. With ``nuclei``, a QuPath cell's nucleus outline (``nucleusGeometry``) stands for the cell.
    Returns what was written and left out."""
    images = images_by_key(Path(images_dir))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    done = {"binary": [], "objects": [], "classes": [], "no_image": [], "no_geojson": [], "skipped": {}}
    named = set()
    for path in sorted(p for p in Path(geojson_dir).iterdir() if p.suffix.lower() in SUFFIXES):
        key = path.name[:-len(path.suffix)]
        image = images.get(key)
        if image is None:
            done["no_image"].append(path.name)
            continue
        named.add(image.name)
        with open(image, "rb") as fh:
            shape = image_size(fh)
        if shape is None:
            raise InputError(str(image), "has no image header Pillow can read", "replace it with a readable image")
        try:
            kind, data, suffix = _mask(read_features(path), shape, classes, done["skipped"], nuclei)
        except (ValueError, TypeError, IndexError, KeyError) as err:  # coordinates that are not rings of points
            raise InputError(str(path), f"has a geometry that is not a polygon's rings of [x, y] points ({err})",
                             "fix or delete that object in QuPath and export again") from None
        atomic.write_bytes(out / f"{image.stem}{suffix}", data)
        done[kind].append(image.stem)
    done["no_geojson"] = sorted({p.name for p in images.values()} - named)
    return done


def _mask(features: list[dict], shape: tuple[int, int], classes: list[str] | None, skipped: dict,
          nuclei: bool = False):
    """(kind, encoded mask, file suffix) of one image's features; counts what it leaves out in ``skipped``."""
    labels = np.zeros(shape, np.uint16 if len(features) <= PNG_LABELS else np.int32)  # a slide's: 2 bytes a pixel
    n = 0
    for feature in features:
        name = class_name(feature)
        if classes is not None and name not in classes:
            skipped[f"class {name!r}"] = skipped.get(f"class {name!r}", 0) + 1
            continue
        value = classes.index(name) + 1 if classes is not None else n + 1
        geometry = feature["nucleusGeometry"] if nuclei and "nucleusGeometry" in feature else feature["geometry"]
        if fill_geometry(labels, geometry, value):
            n += 1
        else:
            kind = (geometry or {}).get("type")
            skipped[f"{kind} geometry"] = skipped.get(f"{kind} geometry", 0) + 1
    if classes is not None:
        return "classes", encode_png(labels.astype(np.uint8), rgb=False), ".png"
    if n <= 1:
        return "binary", encode_png((labels > 0).astype(np.uint8) * 255, rgb=False), ".png"
    return ("objects", *encode_instances(labels))
