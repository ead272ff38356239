"""Per-object measurements of segmented new images."""
import numpy as np

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
