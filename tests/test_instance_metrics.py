"""Instance (object-level) scores and class IoUs against values worked out by hand."""
import math

import numpy as np
import pytest

from snakeseg.evaluation.instances import (
    THRESHOLDS, frequency_weighted_iou, instance_scores, match_iou, relabel, two_class_mean_iou)


def example_maps():
    """12x12 truth with 4 objects, prediction with 3: a merged pair, a miss, a false object, a hit."""
    truth = np.zeros((12, 12), np.int32)
    truth[0:3, 0:3] = 1      # A: 3x3 = 9 px
    truth[0:3, 4:7] = 2      # B: 3x3 = 9 px (column 3 separates A and B)
    truth[5:8, 0:4] = 3      # C: 3x4 = 12 px, missed entirely
    truth[8:12, 6:11] = 4    # D: 4x5 = 20 px
    pred = np.zeros((12, 12), np.int32)
    pred[0:3, 0:7] = 1       # blob over A, the gap and B: 3x7 = 21 px
    pred[8:12, 7:12] = 2     # D': 4x5 = 20 px, shifted one column right of D
    pred[5:7, 8:11] = 3      # F: 2x3 = 6 px, where there is no object
    return truth, pred


def test_example_iou_matrix():
    truth, pred = example_maps()
    # A ∩ blob = 9, union 9 + 21 - 9 = 21 -> 9/21 = 0.4286; B the same.
    # C meets nothing -> 0.
    # D ∩ D' = rows 8-11 x cols 7-10 = 16, union 20 + 20 - 16 = 24 -> 16/24 = 0.6667.
    # F meets no true object -> its column is 0.
    expected = np.array([[9 / 21, 0, 0],
                         [9 / 21, 0, 0],
                         [0, 0, 0],
                         [0, 16 / 24, 0]])
    iou = match_iou(truth, pred)
    assert iou.shape == (4, 3) and iou.dtype == np.float64
    np.testing.assert_allclose(iou, expected)


def test_example_instance_scores():
    truth, pred = example_maps()
    # At t = 0.5, 0.55, 0.6, 0.65 only D-D' (0.6667) matches; A and B (0.4286 each) never do:
    #   TP = 1, FP = 2 (blob, F), FN = 3 (A, B, C) -> precision_t = 1 / (1 + 2 + 3) = 1/6.
    # At t = 0.7 ... 0.95 (6 thresholds) D-D' is lost too:
    #   TP = 0, FP = 3, FN = 4 -> precision_t = 0 / 7 = 0.
    # map = (4 * 1/6 + 6 * 0) / 10 = 1/15 = 0.0667; ap50 = 1/6.
    # Objects at 0.5: P = 1/3, R = 1/4, F1 = 2*1 / (2*1 + 2 + 3) = 2/7.
    # Counts: 4 true, 3 predicted, count error 1.
    s = instance_scores(truth, pred)
    assert s["map"] == pytest.approx(1 / 15)
    assert s["ap50"] == pytest.approx(1 / 6)
    assert s["obj_precision"] == pytest.approx(1 / 3)
    assert s["obj_recall"] == pytest.approx(1 / 4)
    assert s["obj_f1"] == pytest.approx(2 / 7)
    assert (s["n_true"], s["n_pred"], s["count_error"]) == (4, 3, 1)


def test_threshold_is_strict_and_float_steps_do_not_shift_it():
    truth = np.zeros((6, 6), np.int32)
    truth[0:4, 0:2] = 1      # 8 px
    pred = np.zeros((6, 6), np.int32)
    pred[0:3, 0:2] = 1       # 6 px inside it -> IoU 6/8 = 0.75 exactly
    # Matches at 0.5, 0.55, 0.6, 0.65, 0.7 (precision 1), not at 0.75 (IoU is not > 0.75) nor above:
    # map = 5/10 = 0.5, with the rounded default and with a raw np.arange alike.
    assert instance_scores(truth, pred)["map"] == pytest.approx(0.5)
    assert instance_scores(truth, pred, thresholds=np.arange(0.5, 1.0, 0.05))["map"] == pytest.approx(0.5)
    assert len(THRESHOLDS) == 10 and THRESHOLDS[2] == 0.6 and THRESHOLDS[-1] == 0.95
    with pytest.raises(ValueError):
        instance_scores(truth, pred, thresholds=[0.3])


def test_identical_empty_and_one_empty():
    truth, _ = example_maps()
    same = instance_scores(truth, truth)
    assert same["map"] == 1.0 and same["ap50"] == 1.0 and same["obj_f1"] == 1.0 and same["count_error"] == 0
    empty = np.zeros_like(truth)
    both = instance_scores(empty, empty)
    assert both["map"] == 1.0 and both["ap50"] == 1.0 and both["obj_f1"] == 1.0
    assert math.isnan(both["obj_precision"]) and math.isnan(both["obj_recall"])
    assert (both["n_true"], both["n_pred"]) == (0, 0)
    missed = instance_scores(truth, empty)
    assert missed["map"] == 0.0 and missed["obj_recall"] == 0.0 and math.isnan(missed["obj_precision"])
    assert missed["obj_f1"] == 0.0 and missed["count_error"] == 4
    spurious = instance_scores(empty, truth)
    assert spurious["map"] == 0.0 and spurious["obj_precision"] == 0.0 and math.isnan(spurious["obj_recall"])
    assert match_iou(empty, truth).shape == (0, 4)


def test_non_consecutive_ids():
    truth, pred = example_maps()
    truth_ids = np.array([0, 7, 30, 31, 1000])[truth]      # same objects, in the same sorted order
    pred_ids = np.array([0, 5, 99, 12345])[pred]
    np.testing.assert_allclose(match_iou(truth_ids, pred_ids), match_iou(truth, pred))
    assert instance_scores(truth_ids, pred_ids) == instance_scores(truth, pred)
    np.testing.assert_array_equal(relabel(truth_ids), truth)
    np.testing.assert_array_equal(relabel(np.array([[5, 9], [9, 5]])), [[1, 2], [2, 1]])


def test_valid_mask_excludes_pixels():
    truth = np.zeros((4, 6), np.int32)
    truth[0:2, 0:4] = 1      # 8 px
    truth[3, 5] = 2          # 1 px, outside the valid region below
    pred = np.zeros((4, 6), np.int32)
    pred[0:2, 0:2] = 4       # 4 px, inside object 1
    # Everything: IoU(1, 4) = 4/8 = 0.5, not > 0.5 -> no match; 2 true, 1 predicted.
    s = instance_scores(truth, pred)
    assert s["ap50"] == 0.0 and (s["n_true"], s["n_pred"]) == (2, 1)
    valid = np.zeros((4, 6), bool)
    valid[:, 0:2] = True
    # Columns 0-1 only: object 1 has 4 valid px, all shared with 4 -> IoU 1; object 2 gone.
    np.testing.assert_allclose(match_iou(truth, pred, valid), [[1.0]])
    s = instance_scores(truth, pred, valid)
    assert s["map"] == 1.0 and (s["n_true"], s["n_pred"], s["count_error"]) == (1, 1, 0)


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match=r"\(3, 3\).*\(3, 4\)"):
        match_iou(np.zeros((3, 3), int), np.zeros((3, 4), int))
    with pytest.raises(ValueError):
        instance_scores(np.zeros((3, 3), int), np.zeros((4, 3), int))
    with pytest.raises(ValueError):
        match_iou(np.zeros((3, 3), int), np.zeros((3, 3), int), valid=np.ones((2, 2), bool))


def test_iou_matrix_matches_brute_force():
    rng = np.random.default_rng(0)
    truth = np.array([0, 3, 7, 8, 20, 41])[rng.integers(0, 6, (30, 25))]
    pred = np.array([0, 2, 9, 11, 50])[rng.integers(0, 5, (30, 25))]
    valid = rng.random((30, 25)) > 0.2
    for mask in (None, valid):
        keep = np.ones_like(truth, bool) if mask is None else mask
        t_ids = [i for i in np.unique(truth[keep]) if i]
        p_ids = [j for j in np.unique(pred[keep]) if j]
        brute = np.array([[((truth == i) & (pred == j) & keep).sum() / (((truth == i) | (pred == j)) & keep).sum()
                           for j in p_ids] for i in t_ids])
        np.testing.assert_allclose(match_iou(truth, pred, mask), brute)


def test_two_class_mean_iou():
    truth = np.zeros((4, 4), bool)
    truth[0:2] = True        # foreground rows 0-1: 8 px
    pred = np.zeros((4, 4), bool)
    pred[1] = True           # foreground row 1: 4 px
    # Foreground: inter 4, union 8 -> 0.5.
    # Background: truth rows 2-3 (8 px), prediction rows 0, 2, 3 (12 px), inter 8, union 12 -> 2/3.
    # Mean = (0.5 + 2/3) / 2 = 7/12.
    assert two_class_mean_iou(truth, pred) == pytest.approx(7 / 12)
    # Foreground in neither map: only background (IoU 16/16 = 1) counts -> 1.0, not (1 + 0) / 2.
    empty = np.zeros((4, 4), bool)
    assert two_class_mean_iou(empty, empty) == 1.0
    # All foreground against all background: both classes present, both IoU 0 -> 0.
    assert two_class_mean_iou(~empty, empty) == 0.0
    # Valid rows 2-3 only: both all background there -> 1.0.
    valid = np.zeros((4, 4), bool)
    valid[2:] = True
    assert two_class_mean_iou(truth, pred, valid) == 1.0


def test_frequency_weighted_iou():
    truth = np.array([[0, 0, 1, 1],
                      [0, 0, 2, 2]])
    pred = np.array([[0, 1, 1, 1],
                     [0, 0, 0, 2]])
    # Class 0: truth 4 px, prediction 4 px, inter 3 ((0,0), (1,0), (1,1)), union 5 -> 0.6, share 4/8.
    # Class 1: truth 2 px, prediction 3 px, inter 2, union 3 -> 2/3, share 2/8.
    # Class 2: truth 2 px, prediction 1 px, inter 1, union 2 -> 0.5, share 2/8.
    # FWIoU = 0.5 * 0.6 + 0.25 * 2/3 + 0.25 * 0.5 = 0.3 + 1/6 + 0.125 = 0.591667.
    assert frequency_weighted_iou(truth, pred, 2) == pytest.approx(0.3 + 1 / 6 + 0.125)
    # Class 3 only predicted: weighs 0, but shrinks class 0's IoU to 3/4 -> 1 * 0.75.
    assert frequency_weighted_iou(np.zeros((1, 4), int), np.array([[0, 0, 0, 3]]), 3) == pytest.approx(0.75)
    assert frequency_weighted_iou(truth, truth, 2) == 1.0
    with pytest.raises(ValueError):
        frequency_weighted_iou(truth, pred, 1)
