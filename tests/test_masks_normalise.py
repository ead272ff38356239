import numpy as np
import pytest

from snakeseg.errors import InputError
from snakeseg.data.masks import IGNORE, MaskSpec, merge_instances, normalise

FG = np.zeros((6, 6), bool)
FG[1:4, 2:5] = True


@pytest.mark.parametrize("arr,encoding", [
    (FG.astype(np.uint8), "8-bit 0/1"),
    (FG.astype(np.uint8) * 255, "8-bit 0/255"),
    (np.repeat((FG.astype(np.uint8) * 255)[..., None], 3, axis=2), "8-bit R=G=B 0/255"),
    (FG.astype(np.uint16) * 65535, "16-bit 0/65535"),
    (FG.astype(np.uint16), "16-bit 0/1"),
    (np.dstack([np.zeros((6, 6, 3), np.uint8), FG.astype(np.uint8) * 255]),  # drawn in transparency only
     "8-bit alpha channel (one colour, drawn in transparency) 0/255"),
])
def test_binary_encodings_give_the_same_labels(arr, encoding):
    labels, record = normalise(arr, "m.png", MaskSpec())
    assert np.array_equal(labels, FG.astype(np.uint8))
    assert record["mask_encoding"] == encoding and record["stray_pixels"] == 0


def test_stray_values_are_reported_and_thresholded_or_refused():
    arr = FG.astype(np.uint8) * 255
    arr[5, 0:2] = 32     # a few stray pixels, below half of 255
    arr[0, 0] = 200      # one above
    labels, record = normalise(arr, "m.png", MaskSpec())
    assert record["stray_pixels"] == 3 and record["stray_values"] == "32:2 200:1"
    assert "threshold at 127.5" in record["stray_action"]
    assert labels[5, 0] == 0 and labels[0, 0] == 1
    with pytest.raises(InputError, match="m.png: has 3 pixels of unexpected values"):
        normalise(arr, "m.png", MaskSpec(strict=True))


def test_ignore_value_becomes_255_and_is_not_foreground():
    arr = FG.astype(np.uint8)
    arr[5, :] = 7
    labels, record = normalise(arr, "m.png", MaskSpec(ignore_value=7))
    assert (labels[5] == IGNORE).all() and record["stray_pixels"] == 0
    assert np.array_equal(labels[:5], FG[:5].astype(np.uint8))


def test_index_and_channel_masks():
    idx = np.zeros((4, 4), np.uint8)
    idx[0, :2], idx[1, :2], idx[3, 3] = 1, 2, 9
    labels, record = normalise(idx, "i.png", MaskSpec("index", 2, ignore_value=None))
    assert labels[0, 0] == 1 and labels[1, 0] == 2 and labels[3, 3] == IGNORE and record["stray_values"] == "9:1"
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[0, 0, 0] = 255
    rgb[1, 1, 1] = 255
    rgb[2, 2, :2] = 255  # two classes at once
    labels, record = normalise(rgb, "c.png", MaskSpec("channels", 2))
    assert labels[0, 0] == 1 and labels[1, 1] == 2 and labels[2, 2] == IGNORE and record["stray_pixels"] == 1
    # The same colour mask read as an index map would ignore every object: set aside with the fix.
    with pytest.raises(InputError, match=r"c.png: is a colour mask whose colours are not class indices \(colour:pixels "
                                         r"\(0,255,0\):1 \(255,0,0\):1 \(255,255,0\):1\). Fix: set masks.format: "
                                         r"colours and masks.colours to each class's RGB colour in the order of "
                                         r"masks.classes \(this mask holds \[0, 255, 0\], \[255, 0, 0\], \[255, 255, 0\];"):
        normalise(rgb, "c.png", MaskSpec("index", 2))


def test_colour_masks_read_by_their_class_colours():
    voc = np.zeros((20, 20, 3), np.uint8)
    voc[0:10, 0:10] = (128, 0, 0)
    voc[10:20, 0:10] = (0, 128, 0)
    voc[0:10, 10:20] = (128, 128, 0)    # olive: on in two channels
    voc[19, 19] = (224, 224, 192)       # VOC's "void" outline colour, listed nowhere
    spec = MaskSpec("colours", 3, colours=((128, 0, 0), (0, 128, 0), (128, 128, 0)))
    labels, record = normalise(voc, "v.png", spec)
    assert (labels[0:10, 0:10] == 1).all() and (labels[10:20, 0:10] == 2).all() and (labels[0:10, 10:20] == 3).all()
    assert labels[15, 15] == 0 and labels[19, 19] == IGNORE
    assert record["stray_values"] == "(224,224,192):1" and record["stray_action"] == "ignore those pixels"
    with pytest.raises(InputError, match="has 1 pixels of unexpected values"):
        normalise(voc, "v.png", MaskSpec("colours", 3, strict=True, colours=spec.colours))
    with pytest.raises(InputError, match="v.png: is single-channel but masks.format is 'colours'"):
        normalise(voc[..., 0], "v.png", spec)
    # read as channels, olive would be an overlap of classes 1 and 2 and vanish: refused with the colours
    with pytest.raises(InputError, match=r"v.png: has colours that are on in several channels.*"
                                         r"Fix: set masks.format: colours and masks.colours to each class's RGB colour "
                                         r"in the order of masks.classes \(this mask holds \[0, 128, 0\], \[128, 0, 0\], "):
        normalise(voc, "v.png", MaskSpec("channels", 3))


def test_empty_mask_is_recorded():
    labels, record = normalise(np.zeros((3, 3), np.uint8), "e.png", MaskSpec())
    assert not labels.any() and record["mask_encoding"] == "8-bit all zero"


def test_merge_instances_is_the_union_and_counts_non_empty():
    a = np.zeros((4, 5), np.uint8)
    a[0, 0:2] = 1
    b = np.zeros((4, 5), np.uint8)
    b[3, 4] = 1
    b[2, 2] = IGNORE
    merged, count = merge_instances([a, b, np.zeros((4, 5), np.uint8)])
    assert count == 2
    assert np.argwhere(merged == 1).tolist() == [[0, 0], [0, 1], [3, 4]]
    assert merged[2, 2] == IGNORE
    with pytest.raises(ValueError, match="differs"):
        merge_instances([np.zeros((4, 4)), np.zeros((4, 5))])


def _discs(shape=(96, 96), n=12, radius=5, seed=0):
    """A label image of n non-touching discs with ids 1..n."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    labels = np.zeros(shape, np.uint8)
    for i in range(1, n + 1):
        while True:
            cy, cx = rng.integers(radius + 1, shape[0] - radius - 1, 2)
            disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= (radius + 2) ** 2
            if not labels[disc].any():
                labels[(yy - cy) ** 2 + (xx - cx) ** 2 <= radius ** 2] = i
                break
    return labels


def test_a_label_image_read_as_binary_is_refused_with_the_instances_fix():
    with pytest.raises(InputError, match=r"m.png: looks like a label image of object ids \(12 values, 1 to 12\).*"
                                         r"Fix: set masks.instances: true"):
        normalise(_discs(), "m.png", MaskSpec())


def test_a_jpeg_compressed_binary_mask_is_still_thresholded():
    import cv2

    truth = (_discs(radius=3) > 0).astype(np.uint8) * 255
    for quality in (50, 90):
        arr = cv2.imdecode(cv2.imencode(".jpg", truth, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_GRAYSCALE)
        labels, record = normalise(arr, "m.jpg", MaskSpec())
        assert record["stray_pixels"] > 0 and (labels == (truth > 0)).mean() > 0.99


def test_a_jpeg_mask_with_a_large_ignored_region_is_not_taken_for_a_label_image():
    import cv2

    truth = (_discs(radius=3) > 0).astype(np.uint8) * 255
    arr = cv2.imdecode(cv2.imencode(".jpg", truth, [cv2.IMWRITE_JPEG_QUALITY, 50])[1], cv2.IMREAD_GRAYSCALE)
    arr[:, :32] = 100  # not annotated: a flat region of one value under half the foreground's
    labels, _ = normalise(arr, "m.jpg", MaskSpec(ignore_value=100))
    assert (labels[:, :32] == IGNORE).all() and (labels[:, 40:] == (truth[:, 40:] > 0)).mean() > 0.99


def test_class_masks_read_with_too_few_classes_or_as_binary_say_which_keys_fit():
    mask = np.zeros((40, 40), np.uint8)
    mask[0:10, 0:10], mask[10:20, 0:10], mask[20:30, 0:10] = 1, 2, 3
    mask[:, 35:] = 255                       # not annotated
    _, record = normalise(mask, "m.png", MaskSpec("index", 1, ignore_value=255))
    assert record["stray_action"] == ("ignore those pixels (values 2..3: more classes than the 1 of masks.classes, "
                                      "list a name for each to train it)")
    with pytest.raises(InputError, match=r"Fix: set masks.format: index, masks.classes naming classes 1..3 and "
                                         r"masks.ignore_value: 255 if 255 marks pixels not annotated"):
        normalise(mask, "m.png", MaskSpec())
