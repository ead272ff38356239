"""Model, loss and metric construction (segmentation-models on tf-keras)."""

from __future__ import annotations

import os

from .errors import InputError
from .tfenv import keras, sm

ARCHITECTURES = {"Unet": sm.Unet, "FPN": sm.FPN, "Linknet": sm.Linknet, "PSPNet": sm.PSPNet}


def resolve_encoder_weights(value: str | None) -> str | None:
    """``None`` (random init), ``"imagenet"`` (downloaded by Keras, needs internet) or a local file.

    A local file must hold the encoder's weights without its classification top (a Keras
    ``.h5`` such as ``resnet18_imagenet_1000_no_top.h5``).
    """
    if value in (None, "imagenet"):
        return value
    if not os.path.isfile(value):
        raise InputError(f"config model.encoder_weights: {value}", "is neither null, 'imagenet' nor an existing file",
                         "point it at a local weights file (.h5 without top) or set it to null")
    return os.path.abspath(value)


def build_model(model_cfg: dict, image_size: int):
    """A binary segmentation model with a sigmoid output, as configured under ``model:``."""
    arch = ARCHITECTURES[model_cfg["arch"]]
    kwargs = dict(
        input_shape=(image_size, image_size, 3),
        classes=1,
        activation="sigmoid",
        encoder_weights=resolve_encoder_weights(model_cfg.get("encoder_weights")),
        encoder_freeze=model_cfg.get("encoder_freeze", False),
    )
    if model_cfg["arch"] == "Unet" and model_cfg.get("decoder_filters"):
        kwargs["decoder_filters"] = tuple(model_cfg["decoder_filters"])
    return arch(model_cfg["backbone"], **kwargs)


def make_loss(name: str):
    """Loss by name; ``dice_focal`` is Dice + binary focal, as in the Deepskin notebook."""
    losses = {
        "dice_focal": lambda: sm.losses.DiceLoss() + sm.losses.BinaryFocalLoss(),
        "dice": sm.losses.DiceLoss,
        "bce": sm.losses.BinaryCELoss,
        "bce_dice": lambda: sm.losses.BinaryCELoss() + sm.losses.DiceLoss(),
        "jaccard": sm.losses.JaccardLoss,
    }
    return losses[name]()


def make_metrics(threshold: float) -> list:
    """IoU and F-score at ``threshold``; Keras logs them as ``iou_score`` and ``f1-score``."""
    return [sm.metrics.IOUScore(threshold=threshold), sm.metrics.FScore(threshold=threshold)]


def load_model(path: str):
    """Load a saved model for inference (no optimizer or custom loss needed)."""
    return keras.models.load_model(path, compile=False)
