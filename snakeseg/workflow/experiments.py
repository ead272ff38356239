"""Named experiments: several model/training configurations trained on the same folds.

``config["experiments"]`` maps a name to overrides of the top-level ``model`` and
``train`` blocks and of ``data.normalize`` and ``data.polarity``, merged key by key over them; with no experiments
there is one, ``main``.
"""

from __future__ import annotations

import copy
import json
import re

import jsonschema

from ..errors import InputError
from ..training.weights import resolve_encoder_weights

NAME = re.compile(r"^[A-Za-z0-9_-]+$")
#: Architectures with no encoder to freeze (training.models.NO_ENCODER, named here without TensorFlow).
WITHOUT_ENCODER = ("custom_unet", "hrnet", "simple_cnn")


def deep_merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) \
            else copy.deepcopy(value)
    return out


def expand(config: dict, schema_path: str) -> dict[str, dict]:
    """{name: {"model": ..., "train": ..., "data": ...}}, each merged and validated against the JSON schema."""
    with open(schema_path) as fh:
        schema = json.load(fh)
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
        merged = {}
        for block in ("model", "train", "data"):
            merged[block] = deep_merge(config.get(block) or {}, override.get(block) or {})
            try:
                jsonschema.validate(merged[block], schema["properties"][block])
            except jsonschema.ValidationError as err:
                where = ".".join(str(p) for p in err.absolute_path)
                raise InputError(f"config experiments.{name}.{block}.{where}".rstrip("."), err.message,
                                 f"fix the value; allowed keys and values are in schemas/config.schema.json "
                                 f"under {block}") from None
        _check_warmup(name, merged)
        where = f"experiments.{name}.model" if config.get("experiments") else "model"
        resolve_encoder_weights(merged["model"].get("encoder_weights"), f"{where}.encoder_weights")
        out[name] = merged
    return out


def check_warmup_epochs(name: str, train: dict) -> None:
    """An experiment's warm-up must leave epochs to train the whole network (after the demo's cap)."""
    if train.get("warmup_epochs", 0) >= train["epochs"]:
        raise InputError(f"config experiments.{name}: train.warmup_epochs {train['warmup_epochs']}",
                         f"must be smaller than its train.epochs ({train['epochs']}, demo.epochs caps the demo's)",
                         "lower warmup_epochs or raise epochs")


def _check_warmup(name: str, merged: dict) -> None:
    """A frozen-encoder warm-up needs an encoder: refused at the start, not after the data stage."""
    check_warmup_epochs(name, merged["train"])
    arch = merged["model"].get("arch")
    if merged["train"].get("warmup_epochs") and arch in WITHOUT_ENCODER:
        raise InputError(f"config experiments.{name}: train.warmup_epochs {merged['train']['warmup_epochs']}",
                         f"model.arch {arch} has no encoder to freeze during a warm-up",
                         "set train.warmup_epochs: 0 for it, or use Unet, FPN, Linknet, PSPNet or mobilenetv2_fcn")
    if merged["train"].get("deep_supervision") is True and arch not in (None, "Unet"):
        raise InputError(f"config experiments.{name}: train.deep_supervision true",
                         f"needs segmentation-models' Unet decoder stages, which model.arch {arch} lacks",
                         "set train.deep_supervision to auto (on for Unet only) or false")


def check(config: dict) -> list[str]:
    """The foreground class names, after the checks that span several config keys (InputError)."""
    if config["train"]["warmup_epochs"] >= config["train"]["epochs"]:
        raise InputError("config train.warmup_epochs", "must be smaller than train.epochs",
                         "lower warmup_epochs or raise epochs")
    classes = config["masks"]["classes"] or ["foreground"]
    if config["masks"]["format"] == "binary" and len(classes) > 1:
        raise InputError("config masks.classes", "lists several classes but masks.format is binary",
                         "set masks.format to index or channels, or list one class")
    if len(classes) > 1 and (config["train"]["loss"] != "cce_ignore" or config["train"]["monitor"] == "val_f1-score"):
        raise InputError("config train.loss/train.monitor", f"{len(classes)} classes need a multi-class loss and "
                         "a metric logged for it", "set train.loss: cce_ignore and train.monitor: val_iou_score "
                         "(or val_loss)")
    return classes
