"""Per-image segmentation scores and their summaries (NumPy only)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..data.masks import IGNORE

SCORE_COLUMNS = ["iou", "dice", "precision", "recall"]
# Summarised when the per-image table has them (snakeseg.evaluation.scoring.image_scores).
EXTRA_COLUMNS = ["mean_iou_2class", "fw_iou", "map", "ap50", "obj_precision", "obj_recall", "obj_f1", "count_error",
                 "map_nosplit", "count_error_nosplit", "expected_dice"]


def binary_scores(truth: np.ndarray, pred: np.ndarray, valid: np.ndarray | None = None) -> dict[str, float]:
    """IoU, Dice, precision, recall and areas of two binary masks (any non-zero is foreground).

    Only pixels where ``valid`` is true count (all by default; ignored pixels are left out).
    Conventions: when both masks are empty, IoU and Dice are 1 (a correct empty prediction);
    precision is NaN when nothing is predicted, recall is NaN when there is nothing to find.
    """
    if truth.shape != pred.shape:
        raise ValueError(f"mask shapes differ: truth {truth.shape}, prediction {pred.shape}")
    t, p = truth != 0, pred != 0
    if valid is not None:
        t, p = t & valid, p & valid
    tp = int(np.count_nonzero(t & p))
    t_area, p_area = int(np.count_nonzero(t)), int(np.count_nonzero(p))
    union = t_area + p_area - tp
    return {
        "iou": tp / union if union else 1.0,
        "dice": 2 * tp / (t_area + p_area) if t_area + p_area else 1.0,
        "precision": tp / p_area if p_area else math.nan,
        "recall": tp / t_area if t_area else math.nan,
        "true_area": t_area,
        "pred_area": p_area,
    }


def summarize(per_image: pd.DataFrame, group: str = "fold") -> dict:
    """Mean and median of each score, per ``group`` value and overall (NaNs skipped)."""

    extra = [c for c in EXTRA_COLUMNS if c in per_image.columns]
    extra += [c for c in per_image.columns if c.startswith(("iou_", "dice_"))]

    def stats(frame: pd.DataFrame) -> dict:
        out = {"n_images": int(len(frame))}
        for col in SCORE_COLUMNS + extra:
            values = frame[col].astype(float)
            out[col] = {"mean": _num(values.mean()), "median": _num(values.median())}
        return out

    return {
        "overall": stats(per_image),
        f"per_{group}": {str(k): stats(g) for k, g in per_image.groupby(group, sort=True)},
    }


def _num(x: float) -> float | None:
    return None if x is None or math.isnan(x) else round(float(x), 6)


def label_scores(labels: np.ndarray, pred: np.ndarray, classes: list[str] | None = None) -> dict[str, float]:
    """Scores of a predicted label map against the truth (0 background, 1..n classes, 255 ignored).

    Binary tasks (one class) give IoU, Dice, precision, recall and areas. With several classes,
    each class gets ``iou_<name>`` and ``dice_<name>``, NaN for a class neither mask has (nnU-Net's
    convention: a perfect 1 would pad every mean), and ``iou``/``dice``/``precision``/``recall`` are
    their means over the classes (NaN-skipping; 1 for IoU and Dice when no class is in either mask);
    the areas are the foreground totals.
    """
    valid = labels != IGNORE
    if not classes or len(classes) == 1:
        return binary_scores(labels == 1, pred != 0, valid=valid)
    per_class = {name: binary_scores(labels == c, pred == c, valid=valid) for c, name in enumerate(classes, 1)}
    for s in per_class.values():
        if s["true_area"] == s["pred_area"] == 0:
            s["iou"] = s["dice"] = math.nan
    out = {key: float(np.nanmean([s[key] for s in per_class.values()])) for key in SCORE_COLUMNS
           if not all(math.isnan(s[key]) for s in per_class.values())}
    out = {key: out.get(key, 1.0 if key in ("iou", "dice") else math.nan) for key in SCORE_COLUMNS}
    out["true_area"] = int(((labels > 0) & valid).sum())
    out["pred_area"] = int(((pred > 0) & valid).sum())
    for name, s in per_class.items():
        out[f"iou_{name}"], out[f"dice_{name}"] = s["iou"], s["dice"]
    return out
