"""Object-level (instance) scores and class IoUs of label maps: DSB2018 mAP, object P/R/F1, MeanIoU, FWIoU."""

from __future__ import annotations

import math

import numpy as np

# IoU thresholds 0.5, 0.55, ..., 0.95 of the DSB2018 metric; rounded so that 0.6 is the double nearest 0.6.
THRESHOLDS = np.round(np.arange(0.5, 1.0, 0.05), 2)


def _pixels(truth, pred, valid) -> tuple[np.ndarray, np.ndarray]:
    """The two maps' valid pixels as flat arrays, after checking shapes."""
    truth, pred = np.asarray(truth), np.asarray(pred)
    if truth.shape != pred.shape:
        raise ValueError(f"truth shape {truth.shape} differs from prediction shape {pred.shape}")
    if truth.ndim != 2:
        raise ValueError(f"expected 2-D maps, got shape {truth.shape}")
    if valid is None:
        return truth.ravel(), pred.ravel()
    valid = np.asarray(valid, dtype=bool)
    if valid.shape != truth.shape:
        raise ValueError(f"valid mask shape {valid.shape} differs from map shape {truth.shape}")
    return truth[valid], pred[valid]


def _check_labels(labels: np.ndarray, name: str) -> None:
    if not (np.issubdtype(labels.dtype, np.integer) or labels.dtype == bool):
        raise ValueError(f"{name} must hold integer labels, got dtype {labels.dtype}")
    if labels.size and labels.min() < 0:
        raise ValueError(f"{name} holds negative labels")


def _consecutive(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """Labels mapped to 0 (background) and 1..n in sorted id order, and n."""
    ids, inverse = np.unique(labels, return_inverse=True)
    if ids.size == 0:
        return inverse.reshape(labels.shape), 0
    if ids[0] != 0:  # no background: the smallest id becomes 1
        inverse = inverse + 1
    return inverse.reshape(labels.shape), int(ids.size - (ids[0] == 0))


def relabel(labels) -> np.ndarray:
    """An instance label map with ids renumbered 1..n in sorted order; 0 stays background."""
    labels = np.asarray(labels)
    _check_labels(labels, "labels")
    return _consecutive(labels)[0]


def match_iou(truth: np.ndarray, pred: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """IoU of every true object (rows, sorted ids) with every predicted object (columns), n_true x n_pred.

    Objects with no pixel inside `valid` are left out; pixels outside `valid` count nowhere."""
    t, p = _pixels(truth, pred, valid)
    _check_labels(t, "truth")
    _check_labels(p, "prediction")
    t, n_t = _consecutive(t)
    p, n_p = _consecutive(p)
    # Joint histogram of (true id, predicted id), background row and column included.
    joint = np.bincount(t.astype(np.int64) * (n_p + 1) + p, minlength=(n_t + 1) * (n_p + 1))
    joint = joint.reshape(n_t + 1, n_p + 1)
    area_t, area_p = joint.sum(axis=1)[1:], joint.sum(axis=0)[1:]
    inter = joint[1:, 1:].astype(np.float64)
    union = area_t[:, None] + area_p[None, :] - inter  # every object has >= 1 pixel, so union > 0
    return inter / union


def _ratio(num: float, den: float) -> float:
    return num / den if den else math.nan


def instance_scores(truth, pred, valid=None, thresholds=THRESHOLDS) -> dict:
    """The DSB2018 score (mean over IoU thresholds of TP / (TP + FP + FN)) and object scores at IoU 0.5.

    A true and a predicted object match when their IoU is strictly above the threshold; thresholds
    must be >= 0.5, where each object has at most one partner, so TP is the count of IoUs above it."""
    thresholds = np.round(np.asarray(thresholds, dtype=np.float64).ravel(), 10)
    if thresholds.size == 0 or thresholds.min() < 0.5:
        raise ValueError(f"thresholds must be non-empty and >= 0.5, got {thresholds.tolist()}")
    iou = match_iou(truth, pred, valid)
    n_true, n_pred = iou.shape

    def precision_at(t: float) -> float:
        if n_true == 0 and n_pred == 0:
            return 1.0
        tp = int(np.count_nonzero(iou > t))
        return tp / (n_true + n_pred - tp)

    tp50 = int(np.count_nonzero(iou > 0.5))
    return {
        "map": float(np.mean([precision_at(t) for t in thresholds])),
        "ap50": precision_at(0.5),
        "obj_precision": _ratio(tp50, n_pred),
        "obj_recall": _ratio(tp50, n_true),
        "obj_f1": 2 * tp50 / (n_true + n_pred) if n_true + n_pred else 1.0,
        "n_true": int(n_true),
        "n_pred": int(n_pred),
        "count_error": int(abs(n_pred - n_true)),
    }


def _confusion(t: np.ndarray, p: np.ndarray, n: int) -> np.ndarray:
    """Confusion matrix, truth in rows and prediction in columns, of labels 0..n-1."""
    return np.bincount(t.astype(np.int64) * n + p, minlength=n * n).reshape(n, n)


def _class_ious(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class IoU (0 where the class is in neither map) and its denominator."""
    inter = np.diag(cm).astype(np.float64)
    union = cm.sum(axis=0) + cm.sum(axis=1) - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0), union


def two_class_mean_iou(truth_fg: np.ndarray, pred_fg: np.ndarray, valid=None) -> float:
    """Mean of background and foreground IoU, as tf.keras.metrics.MeanIoU(num_classes=2) gives for one image.

    Nonzero means foreground. Like Keras, a class in neither map is left out of the mean, and no valid
    pixel at all gives 0.0."""
    t, p = _pixels(truth_fg, pred_fg, valid)
    iou, union = _class_ious(_confusion(t != 0, p != 0, 2))
    present = np.count_nonzero(union)
    return float(iou.sum() / present) if present else 0.0


def frequency_weighted_iou(truth: np.ndarray, pred: np.ndarray, n_classes: int, valid=None) -> float:
    """Sum over classes 0..n_classes of (share of valid truth pixels in the class) x class IoU (Long et al. 2015).

    Classes absent from the truth weigh 0; NaN when no pixel is valid."""
    t, p = _pixels(truth, pred, valid)
    n = int(n_classes) + 1
    for name, labels in (("truth", t), ("prediction", p)):
        _check_labels(labels, name)
        if labels.size and labels.max() >= n:
            raise ValueError(f"{name} holds class {int(labels.max())}, above n_classes={n_classes}")
    if t.size == 0:
        return math.nan
    cm = _confusion(t, p, n)
    iou, _ = _class_ious(cm)
    return float(np.sum(cm.sum(axis=1) / t.size * iou))
