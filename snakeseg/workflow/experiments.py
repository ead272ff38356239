"""Named experiments: several model/training configurations trained on the same folds.

``config["experiments"]`` maps a name to overrides of the top-level ``model`` and
``train`` blocks and of ``data.normalize`` and ``data.polarity``, merged key by key over them; with no experiments
there is one, ``main``.
"""

from __future__ import annotations

import copy
import math
import os
import re

from ..errors import InputError
from ..training.recipe import auto_loss
from ..training.weights import resolve_encoder_weights
from .configcheck import load_schema, schema_errors, whole_numbers

NAME = re.compile(r"^[A-Za-z0-9_-]+$")
#: Architectures with no encoder to freeze (training.models.NO_ENCODER, named here without TensorFlow).
WITHOUT_ENCODER = ("custom_unet", "hrnet", "simple_cnn")


def deep_merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) \
            else copy.deepcopy(value)
    return out


def expand(config: dict, schema: str | dict) -> dict[str, dict]:
    """{name: {"model": ..., "train": ..., "data": ...}}, each merged and checked against the JSON
    schema (its path or itself) and across keys, so that a bad experiment stops the run at its start."""
    schema = load_schema(schema) if isinstance(schema, str) else schema
    named = bool(config.get("experiments"))
    experiments = config.get("experiments") or {"main": {}}
    out = {}
    for name, override in experiments.items():
        if not NAME.match(name):
            raise InputError(f"config experiments.{name}", "is not a usable name",
                             "use letters, digits, '_' and '-' only (it becomes a folder name)")
        override = override or {}
        shaping = sorted(set(override.get("data") or {}) - {"normalize", "polarity"})
        if shaping:
            raise InputError(f"config experiments.{name}.data.{shaping[0]}", "cannot differ between experiments",
                             "set it in the top-level data block: the shards it shapes are shared by all experiments")
        merged, errors = {}, []
        for block in ("model", "train", "data"):
            merged[block] = deep_merge(config.get(block) or {}, override.get(block) or {})
            errors += [f"experiments.{name}.{block}.{line}" for line in
                       schema_errors(merged[block], schema["properties"][block])]
            whole_numbers(merged[block], schema["properties"][block])
        if errors:
            raise InputError(f"config experiments.{name}", "does not fit schemas/config.schema.json:\n  "
                             + "\n  ".join(errors), "fix these keys of the experiment")
        weights = merged["model"].get("encoder_weights")
        if isinstance(weights, str) and weights.startswith("~"):
            merged["model"]["encoder_weights"] = os.path.expanduser(weights)
        where = f"config experiments.{name}: " if named else "config "
        _resolve_loss(where, merged["train"], (config.get("masks") or {}).get("classes") or ["foreground"])
        check_warmup_epochs(where, merged["train"])
        _check_model(where, merged, config.get("image_size"))
        resolve_encoder_weights(merged["model"].get("encoder_weights"),
                                f"{'experiments.' + name + '.' if named else ''}model.encoder_weights")
        out[name] = merged
    return out


def _resolve_loss(where: str, train: dict, classes: list[str]) -> None:
    """``train.loss: auto`` as the classes need it (Dice + focal for one, the softmax's cross-entropy
    for several, as nnU-Net chooses for the task), and an InputError for a loss or monitor that
    cannot serve several classes."""
    if train.get("loss") == "auto":
        train["loss"] = auto_loss(len(classes))
    if len(classes) > 1 and (train.get("loss") != "cce_ignore" or train.get("monitor") == "val_f1-score"):
        raise InputError(f"{where}train.loss/train.monitor", f"{len(classes)} classes need a multi-class loss and "
                         "a metric logged for it", "set train.loss: auto (or cce_ignore) and train.monitor: "
                         "val_iou_score (or val_loss)")


def check_warmup_epochs(where: str, train: dict) -> None:
    """An experiment's warm-up must leave epochs to train the whole network (after the demo's cap);
    ``where`` starts the message (``config `` or ``config experiments.<name>: ``)."""
    if train.get("warmup_epochs", 0) >= train["epochs"]:
        raise InputError(f"{where}train.warmup_epochs {train['warmup_epochs']}",
                         f"must be smaller than train.epochs ({train['epochs']}, demo.epochs caps the demo's)",
                         "lower warmup_epochs or raise epochs")


def _check_model(where: str, merged: dict, image_size: int | None) -> None:
    """What training would refuse only after the data stage: a warm-up or pretrained weights with no
    encoder, deep supervision without Unet's decoder, a network side the architecture cannot take."""
    model, train = merged["model"], merged["train"]
    arch = model.get("arch")
    if train.get("warmup_epochs") and arch in WITHOUT_ENCODER:
        raise InputError(f"{where}train.warmup_epochs {train['warmup_epochs']}",
                         f"model.arch {arch} has no encoder to freeze during a warm-up",
                         "set train.warmup_epochs: 0 for it, or use Unet, FPN, Linknet, PSPNet or mobilenetv2_fcn")
    for key, harmless in (("encoder_weights", None), ("encoder_freeze", False)):
        if arch in WITHOUT_ENCODER and model.get(key, harmless) not in (harmless, None):
            raise InputError(f"{where}model.{key}: {model[key]}", f"{arch} has no pretrained encoder",
                             f"set model.{key} to {'null' if harmless is None else 'false'} or use Unet, FPN, "
                             "Linknet, PSPNet or mobilenetv2_fcn")
    if train.get("deep_supervision") is True and arch not in (None, "Unet"):
        raise InputError(f"{where}train.deep_supervision true",
                         f"needs segmentation-models' Unet decoder stages, which model.arch {arch} lacks",
                         "set train.deep_supervision to auto (on for Unet only) or false")
    native = train.get("mode", "native") == "native"
    if native and arch == "custom_unet" and model.get("depth", 4) > 5:
        raise InputError(f"{where}model.depth {model['depth']}", "custom_unet deeper than 5 levels cannot take "
                         "whole images padded to a multiple of 32, as train.mode native predicts them",
                         "set model.depth to 5 or less, or train.mode: resize")
    side, key = (train.get("patch_size"), "train.patch_size") if native else (image_size, "image_size")
    divisor = _side_divisor(model)
    if isinstance(side, int) and side % divisor:
        good = math.lcm(divisor, 32)
        raise InputError(f"{where}{key} {side}", f"model.arch {arch} needs a multiple of {divisor}",
                         f"set {key} to {', '.join(str(good * k) for k in (1, 2, 3, 4))}, ..."
                         + (" or auto" if native else ""))


def _side_divisor(model: dict) -> int:
    """What the network's input side must be a multiple of (training.models checks it again)."""
    if model.get("arch") == "PSPNet":
        return 6 * model.get("downsample_factor", 8)
    if model.get("arch") == "custom_unet":
        return max(32, 2 ** model.get("depth", 4))
    return 32


def check(config: dict) -> list[str]:
    """The foreground class names, after the checks that span several config keys (InputError)."""
    if config["train"]["warmup_epochs"] >= config["train"]["epochs"]:
        raise InputError("config train.warmup_epochs", "must be smaller than train.epochs",
                         "lower warmup_epochs or raise epochs")
    masks = config["masks"]
    classes = masks["classes"] or ["foreground"]
    if masks["format"] == "binary" and len(classes) > 1:
        raise InputError("config masks.classes", "lists several classes but masks.format is binary",
                         "set masks.format to index, channels or colours, or list one class")
    colours = [tuple(c) for c in masks.get("colours") or []]
    if (masks["format"] == "colours") != bool(colours) or (colours and len(colours) != len(classes)):
        raise InputError("config masks.colours", f"lists {len(colours)} colour(s) for masks.format {masks['format']} "
                         f"and {len(classes)} class(es) ({', '.join(classes)})",
                         "with masks.format: colours, give one RGB colour per class of masks.classes, in its order "
                         "(one class when masks.classes is null); with another format, leave masks.colours out")
    if (0, 0, 0) in colours or len(set(colours)) < len(colours) or (colours and masks.get("ignore_value") is not None):
        raise InputError("config masks.colours", "names black (the background), a colour twice, or comes with "
                         "masks.ignore_value", "give each class a colour of its own other than black; a colour "
                         "not listed (an outline in a 'void' colour) is ignored, so leave masks.ignore_value out")
    return classes
