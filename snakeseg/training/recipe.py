"""What a fold trains on, from the config: native-resolution patches or resized squares, the patch
size (``auto``: from the training images' sizes, as nnU-Net plans it), the normalisation, and the
loss ``auto`` picks."""

from __future__ import annotations

import statistics

#: ``train.patch_size: auto`` picks the median shorter side of the training images, a multiple of
#: 32, at least AUTO_PATCH_MIN and at most the device's cap: a 256-px step costs 4.7x a 128-px one
#: on a 2-core CPU (bench/README.md), so a CPU trains 128-px patches and a GPU up to 512.
AUTO_PATCH_MIN = 64
AUTO_PATCH_MAX = {"cpu": 128, "gpu": 512}


def auto_patch_size(sizes: list[list[int]], device: str = "cpu", multiple: int = 32) -> int:
    """The median shorter side of ``sizes`` ([height, width] pairs), rounded down to a multiple of
    ``multiple`` (PSPNet: 48), within [AUTO_PATCH_MIN, AUTO_PATCH_MAX[device]]."""
    cap = AUTO_PATCH_MAX[device] // multiple * multiple
    if not sizes:
        return cap
    median = statistics.median(min(h, w) for h, w in sizes)
    low = -(-AUTO_PATCH_MIN // multiple) * multiple
    return int(min(cap, max(low, median // multiple * multiple)))


def side_multiple(model_cfg: dict) -> int:
    """What the network's side must be a multiple of: 6 x downsample_factor for PSPNet (its pooling;
    48 by default), else 32."""
    return 6 * model_cfg.get("downsample_factor", 8) if model_cfg.get("arch") == "PSPNet" else 32


def training_recipe(train_cfg: dict, data_cfg: dict, image_size: int, sizes: list[list[int]],
                    device: str = "cpu", multiple: int = 32) -> dict:
    """The pipeline's recipe (:data:`snakeseg.training.pipeline.DEFAULT_RECIPE`) for a fold whose
    training records have ``sizes``, trained on ``device`` (cpu or gpu) by a network whose side is a
    multiple of ``multiple`` (:func:`side_multiple`)."""
    patch = train_cfg["patch_size"]
    return {"mode": train_cfg["mode"], "image_size": image_size,
            "patch_size": auto_patch_size(sizes, device, multiple) if patch == "auto" else int(patch),
            "foreground_fraction": float(train_cfg["foreground_fraction"]), "normalize": data_cfg["normalize"],
            "polarity": data_cfg.get("polarity", "keep")}


def model_side(recipe: dict) -> int:
    """The square side the network is built and trained at."""
    return recipe["patch_size"] if recipe["mode"] == "native" else recipe["image_size"]


def side_key(recipe: dict) -> str:
    """The config key that sets :func:`model_side`, for errors about it."""
    return "train.patch_size" if recipe["mode"] == "native" else "image_size"


def cached_pixels(recipe: dict, n_records: int, pixels: int) -> int:
    """Pixels the decoded training pairs hold in memory: their own sizes, or the resized squares."""
    return pixels if recipe["mode"] == "native" else n_records * recipe["image_size"] ** 2


def auto_loss(n_classes: int) -> str:
    """``train.loss: auto``: Dice + binary focal for one class, the softmax's cross-entropy for several
    (``n_classes`` counts the foreground classes, or the network's outputs: 1 either way for one class)."""
    return "cce_ignore" if n_classes > 1 else "dice_focal"
