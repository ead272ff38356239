"""Scoring predictions against the merged truth: out-of-fold (each image's mask found in its fold)
and on a test set (each shard's masks in its own folder)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.imageio import read_mask
from ..data.items import iter_truth, truth_instances
from ..data.labelmaps import decode_instances, instances_file
from ..data.masks import IGNORE
from ..errors import InputError
from ..inference.instances import split_instances
from ..inference.predict import read_prediction
from ..inference.summary import expected_dice
from .instances import frequency_weighted_iou, instance_scores, two_class_mean_iou
from .metrics import label_scores


def image_scores(item: dict, truth: np.ndarray, merged: Path, predicted: Path, classes: list[str],
                 mean_iou_threshold: float = 0.4, min_size: int = 0) -> dict:
    """Every score of one image's prediction (``predicted/{masks,probabilities,instances}/<id>.png``, instances
    past 65,535 objects ``.tif``):
    pixel scores, the two-class mean IoU at ``mean_iou_threshold``, frequency-weighted IoU and, when
    both the truth and the prediction have objects, the instance scores, and those of the connected
    components of the mask (no splitting; objects under ``min_size`` pixels removed as in prediction)."""
    pred = read_prediction(predicted / "masks" / f"{item['id']}.png", len(classes))
    valid = truth != IGNORE
    scores = label_scores(truth, pred, classes)
    scores["fw_iou"] = frequency_weighted_iou(np.where(valid, truth, 0), pred, len(classes), valid)
    prob_path = predicted / "probabilities" / f"{item['id']}.png"
    scores["mean_iou_2class"] = scores["expected_dice"] = math.nan
    if prob_path.exists():
        probability = read_mask(prob_path)
        fg = probability >= round(mean_iou_threshold * 255)
        scores["mean_iou_2class"] = two_class_mean_iou((truth > 0) & valid, fg, valid)
        scores["expected_dice"] = expected_dice(pred, probability)
    true_ids, inst_path = truth_instances(merged, item), instances_file(predicted / "instances", item["id"])
    if true_ids is not None and inst_path is not None:
        scores.update(instance_scores(true_ids, decode_instances(inst_path.read_bytes()), valid))
        nosplit = instance_scores(true_ids, split_instances(pred > 0, None, "components", min_size), valid)
        scores["map_nosplit"], scores["count_error_nosplit"] = nosplit["map"], nosplit["count_error"]
    return scores


def prediction_dirs(paths: list[str]) -> dict[int, Path]:
    """{fold: folder} for prediction folders named ``fold-<k>``."""
    return {int(Path(p).name.split("-", 1)[1]): Path(p) for p in paths}


def out_of_fold_table(merged_dirs: list[str], predictions: dict[int, Path], classes: list[str],
                      mean_iou_threshold: float = 0.4, min_size: int = 0) -> pd.DataFrame:
    """One row per usable image: its scores (:func:`image_scores`) against its one out-of-fold
    prediction (``masks/<id>.png`` in exactly one of ``predictions``), fold, shard, object count and
    size; sorted by fold and id."""
    rows = []
    for merged in map(Path, merged_dirs):
        for item, truth in iter_truth([merged]):
            hits = [fold for fold, d in predictions.items() if (d / "masks" / f"{item['id']}.png").exists()]
            if len(hits) != 1:
                raise InputError(f"image {item['id']}", f"has {len(hits)} out-of-fold predictions, expected 1",
                                 "rerun the predict jobs (snakemake --forcerun predict)")
            scores = image_scores(item, truth, merged, predictions[hits[0]], classes, mean_iou_threshold, min_size)
            rows.append({"id": item["id"], "fold": hits[0], "shard": item["shard"], **scores,
                         "n_instances": item["n_instances"], "height": item["height"], "width": item["width"]})
    return pd.DataFrame(rows).sort_values(["fold", "id"]).reset_index(drop=True)


def test_table(merged_dirs: list[str], predicted_dirs: list[str], classes: list[str],
               mean_iou_threshold: float = 0.4, min_size: int = 0) -> pd.DataFrame:
    """One row per usable test image: its scores (:func:`image_scores`) against ``predicted_dirs[i]``
    for the images of ``merged_dirs[i]``, shard, object count and size; sorted by id."""
    rows = []
    for merged, predicted in zip(map(Path, merged_dirs), map(Path, predicted_dirs)):
        for item, truth in iter_truth([merged]):
            path = predicted / "masks" / f"{item['id']}.png"
            if not path.exists():
                raise InputError(str(path), "is missing", "rerun the predict_test jobs (snakemake --forcerun predict_test)")
            scores = image_scores(item, truth, merged, predicted, classes, mean_iou_threshold, min_size)
            rows.append({"id": item["id"], "shard": item["shard"], **scores, "n_instances": item["n_instances"],
                         "height": item["height"], "width": item["width"]})
    if not rows:
        raise InputError("config test_input", "has no usable image (see results/test/<exp>/ and the logs)",
                         "check the test set's layout and masks")
    return pd.DataFrame(rows).sort_values("id").reset_index(drop=True)
