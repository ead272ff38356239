"""Per-image segmentation scores and their summaries (NumPy only)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .masks import IGNORE

SCORE_COLUMNS = ["iou", "dice", "precision", "recall"]


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

    def stats(frame: pd.DataFrame) -> dict:
        out = {"n_images": int(len(frame))}
        for col in SCORE_COLUMNS:
            values = frame[col].astype(float)
            out[col] = {"mean": _num(values.mean()), "median": _num(values.median())}
        return out

    return {
        "overall": stats(per_image),
        f"per_{group}": {str(k): stats(g) for k, g in per_image.groupby(group, sort=True)},
    }


def _num(x: float) -> float | None:
    return None if x is None or math.isnan(x) else round(float(x), 6)


def label_scores(labels: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Scores of a binary prediction against a label map (1 foreground, 255 ignored)."""
    return binary_scores(labels == 1, pred, valid=labels != IGNORE)
