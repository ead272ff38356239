"""Instance outputs of a prediction job and their scores against the merged truth."""

import json

import cv2
import numpy as np
import pytest

from snakeseg.data.imageio import encode_png, read_mask
from snakeseg.evaluation.scoring import image_scores
from snakeseg.inference.outputs import NetworkOutputs, Postprocessor, link_network_outputs, read_network_outputs

PREDICT = {"overlay_truth": True, "overlay_thickness": 1}
INSTANCES = {"enabled": True, "split": "watershed", "min_size": 10}


def two_touching_discs(size=64):
    """Object ids of two touching discs (radius 9, centres 16 px apart) and their union."""
    ids = np.zeros((size, size), np.uint16)
    cv2.circle(ids, (22, 32), 9, 1, -1)
    cv2.circle(ids, (38, 32), 9, 2, -1)
    return ids, (ids > 0).astype(np.uint8)


def write_both_steps(predicted, out, image, labels, fg, instances=INSTANCES, n_classes=1, probabilities=True,
                     truth=None):
    """What rules predict and postprocess write for one image: the network's outputs in ``predicted``,
    read back and post-processed into ``out`` with them linked. Returns the object ids."""
    NetworkOutputs(predicted, n_classes).write("a", labels, fg)
    post = Postprocessor(out, PREDICT, instances, n_classes)
    ids = post.write("a", image, *read_network_outputs(predicted, "a", n_classes), truth=truth)
    link_network_outputs(predicted, out, probabilities)
    return ids


def test_postprocessing_splits_touching_objects_and_writes_every_output(tmp_path):
    ids, fg = two_touching_discs()
    image = np.dstack([fg * 200] * 3).astype(np.uint8)
    predicted = write_both_steps(tmp_path / "net", tmp_path, image, fg, fg * 255, truth=fg)
    assert predicted.max() == 2
    assert read_mask(tmp_path / "masks" / "a.png").max() == 255
    assert np.array_equal(read_mask(tmp_path / "instances" / "a.png"), predicted)
    assert read_mask(tmp_path / "instances" / "a.png").dtype == np.uint16
    assert np.array_equal(read_mask(tmp_path / "probabilities" / "a.png"), fg * 255)
    overlay = read_mask(tmp_path / "overlays" / "a.png")[..., :3]
    # The boundary between the two predicted objects is drawn (yellow) inside the foreground.
    yellow = (overlay[..., 0] == 255) & (overlay[..., 1] == 255) & (overlay[..., 2] == 0)
    assert yellow[32, 29:32].any()


def test_postprocessing_without_instances_for_multiclass_or_disabled(tmp_path):
    _, fg = two_touching_discs()
    image = np.zeros((*fg.shape, 3), np.uint8)
    out = tmp_path / "out"
    assert write_both_steps(tmp_path / "net", out, image, fg, fg * 255, {**INSTANCES, "enabled": False},
                            probabilities=False) is None
    assert not (out / "instances").exists() and not (out / "probabilities").exists()
    assert np.array_equal(read_mask(out / "masks" / "a.png"), fg * 255)
    assert Postprocessor(tmp_path / "m", PREDICT, INSTANCES, n_classes=2).instances is None


def test_network_outputs_read_back_as_written(tmp_path):
    """Post-processing sees exactly the prediction job's label map and probability, multi-class too."""
    labels = np.random.default_rng(0).integers(0, 3, (20, 30)).astype(np.uint8)
    fg = np.random.default_rng(1).integers(0, 256, (20, 30)).astype(np.uint8)
    for n_classes, expected in ((1, labels > 0), (2, labels)):
        NetworkOutputs(tmp_path / str(n_classes), n_classes).write("a", (labels > 0).astype(np.uint8) if n_classes == 1 else labels, fg)
        got_labels, got_fg = read_network_outputs(tmp_path / str(n_classes), "a", n_classes)
        assert np.array_equal(got_labels, expected) and np.array_equal(got_fg, fg)


def test_image_scores_with_and_without_splitting(tmp_path):
    ids, fg = two_touching_discs()
    merged, predicted = tmp_path / "merged", tmp_path / "pred"
    merged.mkdir()
    cv2.imwrite(str(merged / "a.png"), fg)
    cv2.imwrite(str(merged / "a.instances.png"), ids)
    write_both_steps(tmp_path / "net", predicted, np.zeros((*fg.shape, 3), np.uint8), fg, fg * 255)
    item = {"id": "a", "instances": True}
    s = image_scores(item, fg, merged, predicted, ["foreground"], mean_iou_threshold=0.4, min_size=10)
    assert s["dice"] == 1.0 and s["mean_iou_2class"] == 1.0 and s["fw_iou"] == 1.0
    assert s["expected_dice"] == 1.0  # a probability of 0 or 1 everywhere: sure of its mask
    assert s["n_true"] == 2 and s["n_pred"] == 2 and s["count_error"] == 0
    assert s["map"] > 0.8  # the split follows the discs closely
    # As one component the pair overlaps each disc at IoU just over 0.5 (the discs share a lens): one
    # match at threshold 0.5 only (TP 1, FN 1: precision 1/2), none above, so mAP = 0.5 / 10.
    assert s["map_nosplit"] == pytest.approx(0.05) and s["count_error_nosplit"] == 1
    # Without instance truth the object scores are absent, the pixel scores stay.
    plain = image_scores({"id": "a"}, fg, merged, predicted, ["foreground"])
    assert "map" not in plain and plain["dice"] == 1.0


def test_mean_iou_threshold_applies_to_the_probability(tmp_path):
    _, fg = two_touching_discs()
    merged, predicted = tmp_path / "merged", tmp_path / "pred"
    merged.mkdir()
    cv2.imwrite(str(merged / "a.png"), fg)
    # Probability 0.45 everywhere in the foreground: above a 0.4 threshold, below 0.5.
    write_both_steps(tmp_path / "net", predicted, np.zeros((*fg.shape, 3), np.uint8), fg, (fg * 115).astype(np.uint8),
                     {"enabled": False})
    low = image_scores({"id": "a"}, fg, merged, predicted, ["foreground"], mean_iou_threshold=0.4)
    high = image_scores({"id": "a"}, fg, merged, predicted, ["foreground"], mean_iou_threshold=0.5)
    assert low["mean_iou_2class"] == 1.0
    assert high["mean_iou_2class"] == pytest.approx(0.5 * (1 - fg.mean()))  # background IoU only, halved


def test_past_65535_objects_the_instances_are_a_32_bit_tiff_that_scoring_reads(tmp_path):
    fg = np.zeros((520, 520), np.uint8)
    fg[::2, ::2] = 1  # 67,600 one-pixel objects: a whole slide's nuclei in miniature
    merged, predicted = tmp_path / "merged", tmp_path / "pred"
    merged.mkdir()
    cv2.imwrite(str(merged / "a.png"), fg)
    truth_ids = np.zeros(fg.shape, np.uint16)
    truth_ids[0, 0:6:2] = [1, 2, 3]
    cv2.imwrite(str(merged / "a.instances.png"), truth_ids)
    ids = write_both_steps(tmp_path / "net", predicted, np.zeros((*fg.shape, 3), np.uint8), fg, fg * 255,
                           {**INSTANCES, "split": "none", "min_size": 1})
    assert ids.max() == 260 * 260 and not (predicted / "instances" / "a.png").exists()
    assert np.array_equal(cv2.imread(str(predicted / "instances" / "a.tif"), cv2.IMREAD_UNCHANGED), ids)
    s = image_scores({"id": "a", "instances": True}, fg, merged, predicted, ["foreground"], min_size=1)
    assert s["n_pred"] == 260 * 260 and s["n_true"] == 3


def test_auto_overlay_lines_widen_with_the_image_so_a_slide_shows_them():
    from snakeseg.inference.overlay import line_width, overlay

    assert line_width("auto", (256, 320, 3)) == line_width("auto", (1040, 1388)) == 1
    assert line_width("auto", (1280, 1918, 3)) == 2 and line_width("auto", (3000, 2600)) == 3
    assert line_width(4, (256, 256)) == 4
    image, pred = np.zeros((3000, 2600, 3), np.uint8), np.zeros((3000, 2600), np.uint8)
    pred[1000:2000, 1000:2000] = 1
    drawn = overlay(image, pred, thickness=line_width("auto", image.shape)).any(axis=2)
    assert drawn[1500, 997:1004].sum() >= 3  # a 3-px line across the left edge, not 1 px
