"""New images' objects as GeoJSON outlines for QuPath."""
import json

import cv2
import numpy as np

from snakeseg.inference.geojson import encode_geojson, object_features, object_rings
from snakeseg.inference.measure import measure_objects


def _filled(ring, shape):
    """The pixels a ring of :func:`object_rings` outlines, filled as OpenCV fills a contour."""
    canvas = np.zeros(shape, np.uint8)
    points = np.round(np.array(ring) - 0.5).astype(np.int32)
    cv2.fillPoly(canvas, [points], 1)
    return canvas.astype(bool)


def test_an_outline_filled_again_gives_the_object_back():
    yy, xx = np.mgrid[:40, :50]
    disc = (yy - 20) ** 2 + (xx - 24) ** 2 <= 36
    (rings,) = object_rings(disc[14:27, 18:31], left=18, top=14)  # the disc's crop, placed back in the image
    assert len(rings) == 1 and rings[0][0] == rings[0][-1]  # one closed ring, no hole
    assert np.array_equal(_filled(rings[0], disc.shape), disc)
    xs, ys = np.array(rings[0]).T
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (18.5, 30.5, 14.5, 26.5)  # pixel centres: x + 0.5


def test_holes_parts_and_single_pixels():
    ring = np.zeros((20, 20), bool)
    ring[2:18, 2:18] = True
    ring[7:13, 7:13] = False
    (polygon,) = object_rings(ring, 0, 0)
    assert len(polygon) == 2  # the outline, then the hole
    outer, hole = (np.array(r) for r in polygon)
    assert outer[:, 0].min() < hole[:, 0].min() and hole[:, 0].max() < outer[:, 0].max()
    parts = np.zeros((10, 10), bool)
    parts[1:4, 1:4] = parts[6:9, 6:9] = True
    assert len(object_rings(parts, 0, 0)) == 2
    dot = np.zeros((3, 3), bool)
    dot[1, 2] = True  # one pixel: the square of its edges, x 2..3 and y 1..2 (+5 and +7 from the crop)
    (rings,) = object_rings(dot, left=5, top=7)
    assert rings == [[[7.0, 8.0], [8.0, 8.0], [8.0, 9.0], [7.0, 9.0], [7.0, 8.0]]]


def test_features_carry_the_objects_class_name_and_measurements():
    objects = np.zeros((30, 30), np.int32)
    objects[2:8, 2:8] = 1
    objects[15:25, 10:14] = 2
    objects[15:17, 20:22] = 3  # its two parts below are one object
    objects[27:29, 27:29] = 3
    labels = np.where(objects > 0, 1, 0).astype(np.uint8)
    labels[objects == 2] = 2
    table = measure_objects("img", objects, np.full((30, 30), 50, np.uint8))
    features = json.loads(encode_geojson(object_features(objects, table, labels, ["nucleus", "mitosis"])))["features"]
    assert [f["properties"]["name"] for f in features] == ["1", "2", "3"]
    assert [f["properties"]["classification"]["name"] for f in features] == ["nucleus", "mitosis", "nucleus"]
    assert [f["geometry"]["type"] for f in features] == ["Polygon", "Polygon", "MultiPolygon"]
    assert all(f["properties"]["objectType"] == "detection" for f in features)
    measured = features[1]["properties"]["measurements"]
    assert measured["area"] == 40 and measured["mean_intensity"] == 50 and "bbox_top" not in measured
    filled = _filled(features[1]["geometry"]["coordinates"][0], objects.shape)
    assert np.array_equal(filled, objects == 2)


def test_new_images_get_one_geojson_per_image_with_one_feature_per_object(tmp_path):
    from snakeseg.data.imageio import encode_png
    from snakeseg.inference.newimages import postprocess_pack, predict_pack
    from snakeseg.inference.outputs import NetworkOutputs, Postprocessor

    from test_measure import _Pack, _ThresholdModel

    image = np.zeros((32, 32), np.uint8)
    image[4:10, 4:10] = image[20:28, 15:30] = 200
    pack = _Pack({"two.png": encode_png(image), "none.png": encode_png(np.zeros((8, 8), np.uint8))})
    aside = predict_pack(pack, _ThresholdModel(), NetworkOutputs(tmp_path / "net", 1), 0.5, 8, "auto")
    post = Postprocessor(tmp_path, {"overlay_truth": False, "overlay_thickness": 1}, {"enabled": False}, 1, ["cell"])
    tables = postprocess_pack(pack, tmp_path / "net", post, 1, "auto", aside)
    two = json.loads((tmp_path / "geojson" / "two.geojson").read_text())
    assert two["type"] == "FeatureCollection" and len(two["features"]) == len(tables["objects"][0]) == 2
    assert json.loads((tmp_path / "geojson" / "none.geojson").read_text())["features"] == []
