"""New images' objects as GeoJSON outlines for QuPath."""
import json

import cv2
import numpy as np
import pytest

from snakeseg.inference.geojson import encode_geojson, object_features, object_rings
from snakeseg.inference.measure import measure_objects


def _filled(rings, shape):
    """The pixels whose centres a polygon (outer ring, holes) covers."""
    from snakeseg.data.polygons import fill_geometry

    canvas = np.zeros(shape, np.uint8)
    fill_geometry(canvas, {"type": "Polygon", "coordinates": rings}, 1)
    return canvas.astype(bool)


def test_an_outline_filled_again_gives_the_object_back():
    yy, xx = np.mgrid[:40, :50]
    disc = (yy - 20) ** 2 + (xx - 24) ** 2 <= 36
    (rings,) = object_rings(disc[14:27, 18:31], left=18, top=14)  # the disc's crop, placed back in the image
    assert len(rings) == 1 and rings[0][0] == rings[0][-1]  # one closed ring, no hole
    assert np.array_equal(_filled(rings, disc.shape), disc)
    xs, ys = np.array(rings[0]).T
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (18, 31, 14, 27)  # along the pixels' edges
    area = 0.5 * abs(np.dot(xs, np.roll(ys, -1)) - np.dot(ys, np.roll(xs, -1)))
    assert area == disc.sum()  # so QuPath measures the object's pixel count


def test_holes_parts_and_single_pixels():
    ring = np.zeros((20, 20), bool)
    ring[2:18, 2:18] = True
    ring[7:13, 7:13] = False
    (polygon,) = object_rings(ring, 0, 0)
    assert len(polygon) == 2  # the outline, then the hole
    assert sorted(map(tuple, polygon[1][:-1])) == [(7, 7), (7, 13), (13, 7), (13, 13)]  # the hole's edges
    assert np.array_equal(_filled(polygon, ring.shape), ring)
    parts = np.zeros((10, 10), bool)
    parts[1:4, 1:4] = parts[6:9, 6:9] = True
    assert len(object_rings(parts, 0, 0)) == 2
    pinch = np.zeros((6, 6), bool)
    pinch[1:3, 1:3] = pinch[3:5, 3:5] = True  # touching at one corner: two polygons, no ring crossing itself
    assert [len(p) for p in object_rings(pinch, 0, 0)] == [1, 1]
    assert np.array_equal(_filled(object_rings(pinch, 0, 0)[0], pinch.shape) | _filled(object_rings(pinch, 0, 0)[1],
                                                                                       pinch.shape), pinch)
    dot = np.zeros((3, 3), bool)
    dot[1, 2] = True  # one pixel: the square of its edges, x 2..3 and y 1..2 (+5 and +7 from the crop)
    (rings,) = object_rings(dot, left=5, top=7)
    assert len(rings) == 1 and sorted(map(tuple, rings[0][:-1])) == [(7, 8), (7, 9), (8, 8), (8, 9)]


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
    assert features[1]["properties"]["classification"]["color"] == [255, 0, 255]  # magenta, as in the overlays
    assert features[1]["properties"]["classification"]["colorRGB"] == -65281  # QuPath before 0.4: packed ARGB
    assert [f["geometry"]["type"] for f in features] == ["Polygon", "Polygon", "MultiPolygon"]
    assert all(f["properties"]["objectType"] == "detection" for f in features)
    measured = features[1]["properties"]["measurements"]
    assert measured["area"] == 40 and measured["mean_intensity"] == 50 and "bbox_top" not in measured
    filled = _filled(features[1]["geometry"]["coordinates"], objects.shape)
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
    tables = postprocess_pack(pack, tmp_path / "net", post, ["foreground"], "auto", aside)
    two = json.loads((tmp_path / "geojson" / "two.geojson").read_text())
    assert two["type"] == "FeatureCollection" and len(two["features"]) == len(tables["objects"][0]) == 2
    assert json.loads((tmp_path / "geojson" / "none.geojson").read_text())["features"] == []


def _write_image(path, shape):
    from snakeseg.data.imageio import encode_png

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_png(np.zeros(shape, np.uint8), rgb=False))


def test_exported_outlines_drawn_back_as_masks_give_the_same_objects(tmp_path):
    """segment's GeoJSON, edited in QuPath and exported, comes back as training masks: unedited, the
    same object-id map, holes included."""
    from snakeseg.data.polygons import write_masks
    from snakeseg.data.labelmaps import decode_instances

    yy, xx = np.mgrid[:60, :70]
    objects = np.zeros((60, 70), np.int32)
    objects[(yy - 15) ** 2 + (xx - 15) ** 2 <= 64] = 1
    objects[30:50, 30:60] = 2
    objects[36:44, 40:50] = 0  # a hole
    objects[5, 60] = 3  # one pixel
    table = measure_objects("img", objects, np.zeros((60, 70), np.uint8))
    (tmp_path / "qupath").mkdir()
    (tmp_path / "qupath" / "img.geojson").write_bytes(encode_geojson(object_features(objects, table, objects > 0, ["n"])))
    _write_image(tmp_path / "images" / "img.png", objects.shape)
    _write_image(tmp_path / "images" / "unannotated.png", (8, 8))
    (tmp_path / "qupath" / "stray.json").write_text("[]")
    done = write_masks(tmp_path / "qupath", tmp_path / "images", tmp_path / "masks")
    assert done["objects"] == ["img"] and done["no_image"] == ["stray.json"] and done["no_geojson"] == ["unannotated.png"]
    back = decode_instances((tmp_path / "masks" / "img.png").read_bytes())
    assert np.array_equal(back, objects)


def test_polygons_by_class_and_what_is_left_out(tmp_path):
    from snakeseg.data.polygons import write_masks
    from snakeseg.errors import InputError

    def square(x, y, name):
        ring = [[x, y], [x + 4, y], [x + 4, y + 4], [x, y + 4], [x, y]]
        return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {"classification": {"name": name}}}

    collection = {"type": "Feature", "properties": {"classification": {"name": "vessel"}}, "geometry": {
        "type": "GeometryCollection", "geometries": [square(20, 20, "")["geometry"],
                                                     {"type": "LineString", "coordinates": [[0, 0], [5, 5]]}]}}
    features = [square(1, 1, "glomerulus"), square(10, 10, "vessel"), square(20, 1, "tissue"), collection,
                square(40, 40, "vessel"), square(28, -2, "vessel"),  # outside the image; over its corner
                {"type": "Feature", "geometry": {"type": "Point", "coordinates": [3, 3]}, "properties": {}}]
    (tmp_path / "json").mkdir()
    (tmp_path / "json" / "slide.png.json").write_text(json.dumps(features))  # an image's file name + .json, a list
    _write_image(tmp_path / "images" / "slide.png", (30, 30))
    done = write_masks(tmp_path / "json", tmp_path / "images", tmp_path / "masks", ["glomerulus", "vessel"])
    assert done["classes"] == ["slide"] and done["skipped"] == {"class 'tissue'": 1, "class None": 1}
    mask = cv2.imread(str(tmp_path / "masks" / "slide.png"), cv2.IMREAD_UNCHANGED)
    assert (mask == 1).sum() == 16 and (mask == 2).sum() == 2 * 16 + 2 * 2 and mask[12, 12] == 2 and mask.max() == 2
    assert mask[22, 22] == 2  # the collection's polygon
    done = write_masks(tmp_path / "json", tmp_path / "images", tmp_path / "binary")
    assert done["objects"] == ["slide"] and done["skipped"] == {"Point geometry": 1}
    broken = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[1, 2]]}}
    (tmp_path / "json" / "slide.png.json").write_text(json.dumps([broken]))
    with pytest.raises(InputError, match="slide.png.json: has a geometry that is not a polygon's rings"):
        write_masks(tmp_path / "json", tmp_path / "images", tmp_path / "masks")
    (tmp_path / "json" / "slide.png.json").write_text("{not json")
    with pytest.raises(InputError, match="slide.png.json: is not JSON .* Fix: export the objects again"):
        write_masks(tmp_path / "json", tmp_path / "images", tmp_path / "masks")


def test_geojson_masks_command(tmp_path, capsys):
    from snakeseg.__main__ import main

    ring = [[2, 2], [6, 2], [6, 6], [2, 6], [2, 2]]
    feature = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
               "properties": {"objectType": "annotation", "classification": {"name": "wound"}}}
    (tmp_path / "ann").mkdir()
    (tmp_path / "ann" / "foot.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    _write_image(tmp_path / "images" / "foot.png", (10, 10))
    assert main(["geojson-masks", str(tmp_path / "ann"), str(tmp_path / "images"), str(tmp_path / "masks")]) == 0
    assert "1 binary masks and 0 object-id masks" in capsys.readouterr().out
    mask = cv2.imread(str(tmp_path / "masks" / "foot.png"), cv2.IMREAD_UNCHANGED)
    assert set(np.unique(mask)) == {0, 255} and (mask == 255).sum() == 16
    assert main(["geojson-masks", str(tmp_path / "ann"), str(tmp_path / "images"), str(tmp_path / "c"),
                 "--classes", "ulcer"]) == 0
    out = capsys.readouterr().out
    assert "1 features left out: class 'wound'" in out and "cce_ignore" not in out
    assert main(["geojson-masks", str(tmp_path / "ann"), str(tmp_path / "images"), str(tmp_path / "d"),
                 "--classes", "ulcer,wound"]) == 0
    assert "masks.classes: [ulcer, wound])" in capsys.readouterr().out


def test_qupath_cells_give_their_nuclei_on_request(tmp_path):
    from snakeseg.data.polygons import write_masks

    def ring(x0, y0, x1, y1):
        return [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]

    cell = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": ring(2, 2, 12, 12)},
            "nucleusGeometry": {"type": "Polygon", "coordinates": ring(5, 5, 9, 9)},
            "properties": {"objectType": "cell"}}
    (tmp_path / "cells").mkdir()
    (tmp_path / "cells" / "dapi.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [cell]}))
    _write_image(tmp_path / "images" / "dapi.png", (16, 16))
    for nuclei, area in ((False, 100), (True, 16)):
        write_masks(tmp_path / "cells", tmp_path / "images", tmp_path / f"m{nuclei}", nuclei=nuclei)
        assert (cv2.imread(str(tmp_path / f"m{nuclei}" / "dapi.png"), cv2.IMREAD_UNCHANGED) > 0).sum() == area
