"""Per-object measurements of segmented new images."""
import numpy as np
import pytest

from snakeseg.inference.measure import OBJECT_COLUMNS, foreground_objects, measure_objects


def test_objects_are_measured_in_pixels_of_the_image():
    ids = np.zeros((40, 50), np.int32)
    ids[2:12, 3:13] = 1  # a 10 x 10 square
    ids[20:30, 20:40] = 2  # a 10 x 20 rectangle
    image = np.zeros((40, 50, 3), np.uint8)
    image[ids == 2] = (30, 60, 90)
    table = measure_objects("img", ids, image)
    assert list(table.columns) == OBJECT_COLUMNS and list(table["id"]) == ["img", "img"]
    square, rectangle = table.to_dict("records")
    assert (square["area"], square["centroid_y"], square["centroid_x"]) == (100, 6.5, 7.5)
    assert (square["bbox_top"], square["bbox_left"], square["bbox_bottom"], square["bbox_right"]) == (2, 3, 12, 13)
    assert square["eccentricity"] == 0 and square["solidity"] == 1 and square["mean_intensity"] == 0
    assert rectangle["area"] == 200 and rectangle["equivalent_diameter"] == round(2 * np.sqrt(200 / np.pi), 2)
    assert rectangle["eccentricity"] > 0.8 and rectangle["mean_intensity"] == 60
    assert rectangle["integrated_intensity"] == 60 * 200
    # Shape as CellProfiler gives it: the ellipse's axes, a perimeter, form factor 4 pi area / perimeter^2.
    assert rectangle["major_axis_length"] > 1.9 * rectangle["minor_axis_length"]
    assert square["major_axis_length"] == square["minor_axis_length"] and 36 <= square["perimeter"] <= 40
    yy, xx = np.mgrid[:40, :50]
    shapes = np.where((yy - 20) ** 2 + (xx - 20) ** 2 <= 100, 1, 0).astype(np.int32)
    shapes[35, 45] = 2  # one pixel: no perimeter, no form factor
    disc, dot = measure_objects("d", shapes, image).to_dict("records")
    assert 0.85 < disc["form_factor"] <= 1.05 and rectangle["form_factor"] < disc["form_factor"] - 0.1
    assert dot["perimeter"] == 0 and np.isnan(dot["form_factor"])
    ring = np.zeros((20, 20), np.int32)
    ring[2:18, 2:18] = 1
    ring[6:14, 6:14] = 0
    assert measure_objects("r", ring, image[:20, :20])["solidity"].iloc[0] < 0.8  # a hole: below its convex hull
    assert measure_objects("none", np.zeros((5, 5), np.int32), image[:5, :5]).empty


def test_without_instances_the_objects_are_the_foregrounds_8_connected_components():
    labels = np.zeros((10, 10), np.uint8)
    labels[1, 1] = labels[2, 2] = 1  # diagonal neighbours: one object
    labels[6:8, 6:8] = 2
    objects = foreground_objects(labels)
    assert objects.max() == 2 and objects[1, 1] == objects[2, 2] != objects[6, 6]
    labels[6:8, 8:10] = 1  # touching the class-2 square: another object, of its own class
    objects = foreground_objects(labels)
    assert objects.max() == 3 and objects[6, 6] != objects[6, 8] and len(set(objects[6:8, 8:10].ravel())) == 1


class _Pack:
    """A staged shard of in-memory files, as predict_pack and postprocess_pack read one."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.manifest = {"shard": "0000", "set_aside": {},
                         "items": {name.split(".")[0]: {"image": {"name": name}} for name in files}}

    def read(self, name):
        return self.files[name]


class _ThresholdModel:
    """A predictor that calls every pixel brighter than mid-grey (of the 8-bit image it is given) foreground."""

    def segment(self, images, threshold):
        return [((image[..., 0] > 127).astype(np.uint8), np.where(image[..., 0] > 127, 255, 0).astype(np.uint8))
                for image in images]


def test_object_intensities_are_in_the_images_stored_values(tmp_path):
    """A 12-bit camera's dim and bright image of the same nucleus: each is stretched to 8 bits by the
    bits it uses, so the two look alike to the model, but their objects' intensities keep the camera's
    values (CellProfiler's, comparable across images); an 8-bit image measures as read."""
    from snakeseg.data.imageio import encode_png
    from snakeseg.inference.newimages import postprocess_pack, predict_pack
    from snakeseg.inference.outputs import NetworkOutputs, Postprocessor

    nucleus = np.zeros((32, 32), np.uint16)
    nucleus[8:16, 8:20] = 1000  # 96 pixels
    bright = nucleus * 4  # 4000: 12 bits used
    bright[0, 0] = 10  # background noise keeps both from being blank elsewhere
    eight = (nucleus // 8).astype(np.uint8)  # 125: not foreground to the model; the nucleus set to 200 below
    eight[8:16, 8:20] = 200
    pack = _Pack({"dim.png": encode_png(nucleus), "bright.png": encode_png(bright), "eight.png": encode_png(eight)})
    aside = predict_pack(pack, _ThresholdModel(), NetworkOutputs(tmp_path / "net", 1), 0.5, 8, "auto")
    post = Postprocessor(tmp_path, {"overlay_truth": False, "overlay_thickness": 1}, {"enabled": False}, 1)
    tables = postprocess_pack(pack, tmp_path / "net", post, ["foreground"], "auto", aside)
    objects = {table["id"].iloc[0]: table.iloc[0] for table in tables["objects"]}
    assert len(tables["summary"]) == 3 and not tables["aside"]
    assert objects["dim"]["area"] == objects["bright"]["area"] == objects["eight"]["area"] == 96
    assert (objects["dim"]["mean_intensity"], objects["bright"]["mean_intensity"]) == (1000, 4000)
    assert objects["bright"]["integrated_intensity"] == 4000 * 96
    assert objects["eight"]["mean_intensity"] == 200 and objects["eight"]["integrated_intensity"] == 200 * 96


def test_expected_dice_is_the_soft_dice_of_the_probability_against_its_mask():
    """1 for a sure prediction, lower the more probability is uncertain around the mask; no value for
    an empty mask; in describe's row (summary.csv) when the probability is given."""
    from snakeseg.inference.summary import describe, expected_dice

    labels = np.zeros((10, 10), np.uint8)
    labels[2:6, 2:6] = 1  # 16 pixels
    sure = labels * 255
    assert expected_dice(labels, sure) == 1.0
    unsure = sure.copy()
    unsure[2:6, 2:4] = 153  # half the mask at 0.6
    unsure[6:8, 2:6] = 102  # 8 pixels outside it at 0.4
    # 2 * (8 + 8 * 0.6) / ((8 + 4.8 + 3.2) + 16) = 25.6 / 32
    assert expected_dice(labels, unsure) == pytest.approx(0.8)
    assert expected_dice(np.zeros_like(labels), unsure) is None
    assert describe(labels, None, unsure)["expected_dice"] == pytest.approx(0.8)
    assert describe(labels)["expected_dice"] is None


def test_each_object_of_a_multi_class_image_names_its_class(tmp_path):
    from snakeseg.data.imageio import encode_png
    from snakeseg.inference.newimages import postprocess_pack
    from snakeseg.inference.outputs import NetworkOutputs, Postprocessor

    labels = np.zeros((32, 32), np.uint8)
    labels[2:8, 2:8], labels[20:30, 3:9], labels[10:14, 20:30] = 2, 1, 2  # a square, a circle, a square
    NetworkOutputs(tmp_path / "net", 2).write("a", labels, np.where(labels > 0, 255, 0).astype(np.uint8))
    pack = _Pack({"a.png": encode_png(np.full((32, 32), 90, np.uint8))})
    post = Postprocessor(tmp_path, {"overlay_truth": False, "overlay_thickness": 1}, {"enabled": False}, 2)
    objects = postprocess_pack(pack, tmp_path / "net", post, ["circle", "square"], "auto", [])["objects"][0]
    by_area = dict(zip(objects["area"], objects["class"]))
    assert list(objects.columns[:3]) == ["id", "object", "class"]
    assert by_area == {36: "square", 60: "circle", 40: "square"}
