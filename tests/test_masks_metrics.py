import math

import numpy as np
import pandas as pd
import pytest

from snakeseg.evaluation.metrics import binary_scores, label_scores, summarize


def test_binary_scores_against_hand_computed_values():
    truth = np.zeros((10, 10), np.uint8)
    truth[0:4, 0:5] = 255            # 20 px
    pred = np.zeros((10, 10), np.uint8)
    pred[2:6, 0:5] = 1               # 20 px, overlap rows 2-3 -> 10 px
    s = binary_scores(truth, pred)
    assert s["true_area"] == 20 and s["pred_area"] == 20
    assert s["iou"] == pytest.approx(10 / 30)
    assert s["dice"] == pytest.approx(20 / 40)
    assert s["precision"] == pytest.approx(0.5) and s["recall"] == pytest.approx(0.5)


def test_binary_scores_edge_cases():
    empty = np.zeros((3, 3), np.uint8)
    full = np.ones((3, 3), np.uint8)
    both_empty = binary_scores(empty, empty)
    assert both_empty["dice"] == 1.0 and both_empty["iou"] == 1.0
    assert math.isnan(both_empty["precision"]) and math.isnan(both_empty["recall"])
    missed = binary_scores(full, empty)
    assert missed["dice"] == 0.0 and missed["recall"] == 0.0 and math.isnan(missed["precision"])
    with pytest.raises(ValueError):
        binary_scores(empty, np.zeros((3, 4)))


def test_a_class_in_neither_mask_has_no_score_and_pads_no_mean():
    truth = np.zeros((10, 10), np.uint8)
    truth[0:4, 0:5] = 2                        # squares only: no circle in the truth
    truth[9, :] = 255                          # not annotated
    pred = np.zeros((10, 10), np.uint8)
    pred[2:6, 0:5] = 2                         # nor in the prediction
    pred[9, :] = 1                             # a circle on ignored pixels counts for nothing
    s = label_scores(truth, pred, ["circle", "square"])
    assert math.isnan(s["dice_circle"]) and math.isnan(s["iou_circle"])
    assert s["dice_square"] == pytest.approx(0.5) and s["dice"] == pytest.approx(0.5)  # not (1 + 0.5) / 2
    missed = label_scores(truth, np.zeros_like(pred), ["circle", "square"])
    assert missed["dice"] == 0.0 and math.isnan(missed["dice_circle"])
    empty = label_scores(np.zeros_like(truth), np.zeros_like(pred), ["circle", "square"])
    assert empty["dice"] == empty["iou"] == 1.0 and math.isnan(empty["dice_square"])  # a right empty image


def test_summarize_per_fold_and_overall():
    table = pd.DataFrame({"fold": [0, 0, 1], "iou": [0.5, 1.0, 0.2], "dice": [0.6, 1.0, 0.3],
                          "precision": [1.0, math.nan, 0.5], "recall": [0.5, 0.5, 0.5]})
    s = summarize(table)
    assert s["overall"]["n_images"] == 3
    assert s["overall"]["dice"]["mean"] == pytest.approx((0.6 + 1.0 + 0.3) / 3)
    assert s["overall"]["dice"]["median"] == pytest.approx(0.6)
    assert s["per_fold"]["0"]["iou"]["mean"] == pytest.approx(0.75)
    assert s["per_fold"]["0"]["precision"]["mean"] == pytest.approx(1.0)  # NaN skipped
    assert s["per_fold"]["1"]["n_images"] == 1
