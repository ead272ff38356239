"""Instance splitting of a predicted foreground: watershed vs components, min_size, outlines, 16-bit PNGs."""
import cv2
import numpy as np
import pytest

from snakeseg.data.labelmaps import decode_instances, encode_instances
from snakeseg.inference.instances import outlines, split_instances


def disc(shape, centre, radius):
    mask = np.zeros(shape, np.uint8)
    cv2.circle(mask, centre, radius, 1, -1)
    return mask > 0


def iou(a, b):
    return (a & b).sum() / (a | b).sum()


def test_two_touching_discs_are_split_by_watershed_only():
    a, b = disc((48, 64), (24, 24), 8), disc((48, 64), (38, 24), 8)  # centres 14 px apart: a neck between them
    fg = a | b
    assert split_instances(fg, method="components").max() == 1
    labels = split_instances(fg)
    assert labels.max() == 2 and set(np.unique(labels)) == {0, 1, 2}
    assert ((labels > 0) == fg).all()
    objects = [labels == i for i in (1, 2)]
    for one, other in ((a, b), (b, a)):
        best = max(objects, key=lambda o: iou(o, one))
        assert iou(best, one) > 0.8 and iou(best, other) < 0.2


def test_probability_weighting_still_splits_and_keeps_foreground():
    fg = disc((48, 64), (24, 24), 8) | disc((48, 64), (38, 24), 8)
    prob = np.where(fg, 0.9, 0.1)
    labels = split_instances(fg, prob)
    assert labels.max() == 2 and ((labels > 0) == fg).all()
    assert split_instances(None, prob).max() == 2


@pytest.mark.parametrize("angle", [0, 30, 45, 90])
def test_single_ellipse_is_not_split(angle):
    mask = np.zeros((64, 64), np.uint8)
    cv2.ellipse(mask, (32, 32), (15, 7), angle, 0, 360, 1, -1)  # 30 x 14 px
    assert split_instances(mask).max() == 1


def test_single_rectangle_and_irregular_blob_are_not_split():
    rect = np.zeros((64, 96), np.uint8)
    cv2.rectangle(rect, (10, 20), (70, 40), 1, -1)
    assert split_instances(rect).max() == 1
    angles = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    radius = 12 + 3 * np.sin(3 * angles) + np.random.default_rng(0).normal(0, 1, 40)
    points = np.stack([32 + radius * np.cos(angles), 32 + radius * np.sin(angles)], 1).astype(np.int32)
    blob = np.zeros((64, 64), np.uint8)
    cv2.fillPoly(blob, [points], 1)
    assert split_instances(blob).max() == 1


def test_three_separate_blobs_give_three_with_both_methods():
    fg = disc((80, 80), (15, 15), 7) | disc((80, 80), (60, 20), 9) | disc((80, 80), (40, 60), 6)
    for method in ("watershed", "components"):
        labels = split_instances(fg, method=method)
        assert labels.max() == 3 and set(np.unique(labels)) == {0, 1, 2, 3}
        assert labels.dtype in (np.int32, np.uint16)


def test_min_size_removes_a_speck_and_labels_stay_consecutive():
    fg = disc((60, 60), (15, 15), 7) | disc((60, 60), (42, 42), 7)
    fg[2, 50:53] = True  # a 3-pixel speck, first in raster order
    for method in ("watershed", "components"):
        assert split_instances(fg, method=method).max() == 3
        labels = split_instances(fg, method=method, min_size=5)
        assert (labels[2, 50:53] == 0).all()
        assert set(np.unique(labels)) == {0, 1, 2}


def same_objects(a, b):
    """Whether two label maps hold the same objects, whatever their ids."""
    pairs = np.unique(np.stack([a.ravel(), b.ravel()]), axis=1)
    return pairs.shape[1] == len(np.unique(a)) == len(np.unique(b))


def test_a_large_image_split_block_by_block_gives_the_objects_of_one_block():
    rng = np.random.default_rng(3)
    fg = np.zeros((300, 340), bool)
    for _ in range(60):  # touching pairs of discs, many across the 64-px block borders
        y, x = rng.integers(10, 290), rng.integers(10, 320)
        fg |= disc(fg.shape, (int(x), int(y)), 6) | disc(fg.shape, (int(x) + 10, int(y)), 6)
    fg |= disc(fg.shape, (1000, 1000), 1)  # nothing: outside
    fg[150:153, 5:335] = True  # a bar crossing every block of its row
    prob = np.where(fg, 0.6 + 0.4 * rng.random(fg.shape), 0.1)
    for method in ("watershed", "components"):
        whole = split_instances(fg, prob, method, min_size=20, block=1024)
        for block in (64, 100):
            blocks = split_instances(fg, prob, method, min_size=20, block=block)
            assert same_objects(whole, blocks) and blocks.max() == whole.max() > 20
            assert set(np.unique(blocks)) == set(range(blocks.max() + 1))


def test_empty_and_one_pixel_images():
    for method in ("watershed", "components"):
        empty = split_instances(np.zeros((32, 40), bool), method=method)
        assert empty.shape == (32, 40) and not empty.any()
        assert split_instances(np.ones((1, 1), bool), method=method).tolist() == [[1]]
        assert split_instances(np.zeros((1, 1), bool), method=method).tolist() == [[0]]


def test_invalid_method_and_shapes_raise():
    fg = np.ones((8, 8), bool)
    with pytest.raises(ValueError, match="watershed"):
        split_instances(fg, method="kmeans")
    with pytest.raises(ValueError):
        split_instances(np.ones((8, 8, 3), bool))
    with pytest.raises(ValueError):
        split_instances(fg, np.ones((8, 9)))


def test_label_maps_are_16_bit_pngs_up_to_65535_objects_and_32_bit_tiffs_past_them():
    labels = np.zeros((40, 60), np.int32)
    labels.flat[np.arange(300) * 7] = np.arange(1, 301)  # 300 one-pixel objects
    labels[-1, -1] = 1000
    data, suffix = encode_instances(labels)
    assert suffix == ".png" and data.startswith(b"\x89PNG")
    assert (decode_instances(data) == labels).all()
    labels[0, 0] = 65535
    assert (decode_instances(encode_instances(labels)[0]) == labels).all()
    labels[0, 0] = 70000  # a whole slide of nuclei
    data, suffix = encode_instances(labels)
    assert suffix == ".tif" and (decode_instances(data) == labels).all()
    with pytest.raises(ValueError):
        encode_instances(-labels)


def test_outlines_of_a_filled_square_are_its_border_ring():
    labels = np.zeros((20, 20), np.int32)
    labels[5:15, 5:15] = 3
    ring = np.zeros((20, 20), bool)
    ring[5:15, 5:15] = True
    ring[6:14, 6:14] = False
    edges = outlines(labels)
    assert edges.dtype == bool and (edges == ring).all()


def test_outlines_mark_both_sides_of_touching_objects():
    labels = np.zeros((10, 10), np.int32)
    labels[2:8, 2:5], labels[2:8, 5:8] = 1, 2
    edges = outlines(labels)
    assert edges[4, 4] and edges[4, 5] and not edges[4, 3] and not edges[4, 6]
