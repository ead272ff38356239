"""``model.encoder_weights``: where an encoder's starting weights come from (no TensorFlow import,
so Snakemake checks the file when it starts, not after the data stage)."""

from __future__ import annotations

import os

from ..errors import InputError


def resolve_encoder_weights(value: str | None, key: str = "model.encoder_weights") -> str | None:
    """``None`` (random init), ``"imagenet"`` (downloaded by Keras, needs internet) or a local file,
    as an absolute path.

    A local file must hold the encoder's weights without its classification top (a Keras
    ``.h5`` such as ``resnet18_imagenet_1000_no_top.h5``).
    """
    if value in (None, "imagenet"):
        return value
    if not os.path.isfile(value):
        raise InputError(f"config {key}: {value}", "is neither null, 'imagenet' nor an existing file",
                         "point it at a local weights file (.h5 without top) or set it to null")
    return os.path.abspath(value)
