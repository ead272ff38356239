"""Segmentation losses, optionally ignoring pixels whose label is ``ignore_value``.

Binary losses (sigmoid output, masks ``(B, H, W, 1)`` in {0, 1}) reproduce
segmentation-models' formulas (``DiceLoss``, ``JaccardLoss``, ``BinaryCELoss``,
``BinaryFocalLoss``; sums over batch and pixels, mean over channels). With ``ignore_value``
the pixels labelled ``ignore_value`` are dropped: the loss equals the plain loss computed on
the other pixels only, and the prediction at an ignored pixel has no effect.

``cce_ignore`` is categorical cross-entropy for softmax outputs ``(B, H, W, C)`` with sparse
integer labels ``(B, H, W, 1)``; pixels labelled ``ignore_value`` are masked out and the loss
is the mean over the valid pixels.
"""

from __future__ import annotations

from ..errors import InputError
from ..tfenv import keras, tf
from .recipe import auto_loss

SMOOTH = 1e-5  # segmentation-models' default
FOCAL_ALPHA, FOCAL_GAMMA = 0.25, 2.0  # segmentation-models' BinaryFocalLoss defaults

BINARY_LOSSES = ("dice_focal", "dice", "bce", "bce_dice", "jaccard")
MULTICLASS_LOSSES = ("cce_ignore",)
LOSSES = BINARY_LOSSES + MULTICLASS_LOSSES


def _binary_inputs(y_true, y_pred, ignore_value):
    """(gt, pr, valid): float tensors; gt is 0 and valid is 0 at ignored pixels."""
    y_pred = tf.convert_to_tensor(y_pred)
    y_true = tf.cast(y_true, y_pred.dtype)
    if ignore_value is None:
        return y_true, y_pred, None
    valid = tf.cast(tf.not_equal(y_true, tf.cast(ignore_value, y_pred.dtype)), y_pred.dtype)
    return y_true * valid, y_pred, valid


def _masked_mean(per_pixel, valid):
    if valid is None:
        return tf.reduce_mean(per_pixel)
    return tf.reduce_sum(per_pixel * valid) / tf.maximum(tf.reduce_sum(valid), 1.0)


def _overlap(gt, pr, valid):
    """Per-channel true positives and the sums of gt and pr over batch and pixels (valid only)."""
    if valid is not None:
        pr = pr * valid
    axes = [0, 1, 2]
    tp = tf.reduce_sum(gt * pr, axis=axes)
    return tp, tf.reduce_sum(gt, axis=axes), tf.reduce_sum(pr, axis=axes)


def dice_loss(ignore_value=None):
    def dice(y_true, y_pred):
        gt, pr, valid = _binary_inputs(y_true, y_pred, ignore_value)
        tp, sum_gt, sum_pr = _overlap(gt, pr, valid)
        # sm's F-score with beta=1: (2tp + s) / (2tp + fn + fp + s) = (2tp + s) / (sum_gt + sum_pr + s)
        return 1.0 - tf.reduce_mean((2.0 * tp + SMOOTH) / (sum_gt + sum_pr + SMOOTH))
    return dice


def jaccard_loss(ignore_value=None):
    def jaccard(y_true, y_pred):
        gt, pr, valid = _binary_inputs(y_true, y_pred, ignore_value)
        tp, sum_gt, sum_pr = _overlap(gt, pr, valid)
        return 1.0 - tf.reduce_mean((tp + SMOOTH) / (sum_gt + sum_pr - tp + SMOOTH))
    return jaccard


def bce_loss(ignore_value=None):
    def bce(y_true, y_pred):
        gt, pr, valid = _binary_inputs(y_true, y_pred, ignore_value)
        return _masked_mean(keras.backend.binary_crossentropy(gt, pr), valid)
    return bce


def focal_loss(ignore_value=None, alpha: float = FOCAL_ALPHA, gamma: float = FOCAL_GAMMA):
    def focal(y_true, y_pred):
        gt, pr, valid = _binary_inputs(y_true, y_pred, ignore_value)
        eps = keras.backend.epsilon()
        pr = tf.clip_by_value(pr, eps, 1.0 - eps)
        per_pixel = -(alpha * tf.pow(1.0 - pr, gamma) * gt * tf.math.log(pr)
                      + (1.0 - alpha) * tf.pow(pr, gamma) * (1.0 - gt) * tf.math.log(1.0 - pr))
        return _masked_mean(per_pixel, valid)
    return focal


def cce_ignore_loss(n_classes: int, ignore_value=None):
    def cce_ignore(y_true, y_pred):
        y_pred = tf.convert_to_tensor(y_pred)
        labels = tf.cast(tf.round(tf.cast(y_true, tf.float32)), tf.int32)
        labels = labels[..., 0] if labels.shape.rank == y_pred.shape.rank else labels
        if ignore_value is None:
            valid = None
        else:
            is_valid = tf.not_equal(labels, int(ignore_value))
            valid = tf.cast(is_valid, y_pred.dtype)
            labels = tf.where(is_valid, labels, tf.zeros_like(labels))
        per_pixel = keras.backend.sparse_categorical_crossentropy(labels, y_pred)
        return _masked_mean(per_pixel, valid)
    return cce_ignore


def _sum(name, *parts):
    def total(y_true, y_pred):
        return tf.add_n([p(y_true, y_pred) for p in parts])
    total.__name__ = name
    return total


def make_loss(name: str = "dice_focal", n_classes: int = 1, ignore_value=None):
    """The loss called ``name`` (config ``train.loss``) as a Keras-compatible callable.

    Binary (``n_classes == 1``, sigmoid output): ``dice_focal`` (Dice + binary focal, as in the
    Deepskin notebook; the default), ``dice``, ``bce``, ``bce_dice`` (BCE + Dice), ``jaccard``.
    Multi-class (``n_classes > 1``, softmax output, sparse integer labels): ``cce_ignore``.
    ``ignore_value``: label value whose pixels contribute nothing (None: every pixel counts).
    ``auto``: ``dice_focal`` for one class, ``cce_ignore`` for several (the workflow resolves it at start).
    """
    if name == "auto":
        name = auto_loss(n_classes)
    if name not in LOSSES:
        raise InputError(f"config train.loss: {name}", "is not a known loss",
                         f"use one of {', '.join(LOSSES)}")
    if n_classes > 1 and name not in MULTICLASS_LOSSES:
        raise InputError(f"config train.loss: {name}",
                         f"is a binary (sigmoid) loss but the model has {n_classes} classes (softmax)",
                         "use cce_ignore for multi-class segmentation")
    if n_classes <= 1 and name in MULTICLASS_LOSSES:
        raise InputError(f"config train.loss: {name}", "needs a multi-class (softmax) model but n_classes is 1",
                         f"use one of {', '.join(BINARY_LOSSES)} for binary segmentation")
    if name == "cce_ignore":
        return _sum("cce_ignore", cce_ignore_loss(n_classes, ignore_value))
    parts = {
        "dice_focal": (dice_loss, focal_loss),
        "dice": (dice_loss,),
        "bce": (bce_loss,),
        "bce_dice": (bce_loss, dice_loss),
        "jaccard": (jaccard_loss,),
    }[name]
    return _sum(name, *(p(ignore_value) for p in parts))
