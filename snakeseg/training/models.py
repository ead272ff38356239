"""Model and metric construction: segmentation-models architectures and the hand-built ones.

Every architecture is one ``model:`` config block (``arch`` plus that architecture's options,
see :data:`ARCH_OPTIONS`). Binary models (``n_classes == 1``) end in a 1-channel sigmoid;
multi-class models in an ``n_classes``-channel softmax with class 0 = background.
"""

from __future__ import annotations

import math

from . import architectures as archs
from ..errors import InputError
from .losses import LOSSES, _binary_inputs, _overlap, make_loss  # noqa: F401 - make_loss re-exported
from .weights import resolve_encoder_weights
from ..tfenv import keras, sm, tf

SM_ARCHITECTURES = {"Unet": sm.Unet, "FPN": sm.FPN, "Linknet": sm.Linknet, "PSPNet": sm.PSPNet}
CUSTOM_ARCHITECTURES = {
    archs.CUSTOM_UNET: archs.custom_unet,
    archs.HRNET: archs.hrnet,
    archs.MOBILENETV2_FCN: archs.mobilenetv2_fcn,
    archs.SIMPLE_CNN: archs.simple_cnn,
}
ARCH_NAMES = tuple(SM_ARCHITECTURES) + tuple(CUSTOM_ARCHITECTURES)

#: The ``model:`` keys each architecture reads, with their defaults. ``arch`` is always read.
SM_COMMON = {"backbone": "resnet18", "encoder_weights": None, "encoder_freeze": False}
ARCH_OPTIONS = {
    "Unet": {**SM_COMMON, "decoder_filters": None},  # None: sm's (256, 128, 64, 32, 16)
    "FPN": dict(SM_COMMON),
    "Linknet": dict(SM_COMMON),
    "PSPNet": {**SM_COMMON, "downsample_factor": 8},
    archs.CUSTOM_UNET: {"depth": 4, "base_filters": 16, "convs_per_level": 2, "dropout": 0.0, "batchnorm": True},
    archs.HRNET: {"width": 16, "branches": 4, "blocks": 2},
    archs.MOBILENETV2_FCN: {"encoder_weights": None, "encoder_freeze": False, "alpha": 1.0,
                            "fcn_filters": [512, 256, 128, 64]},
    archs.SIMPLE_CNN: {"filters": 32, "layers": 4},
}

#: Name prefixes of the first decoder layers of segmentation-models' architectures and of
#: ``mobilenetv2_fcn``: the decoder is these layers and everything downstream of them.
DECODER_SEEDS = ("decoder_", "center_block", "fpn_stage_", "psp_level")
NO_ENCODER = (archs.CUSTOM_UNET, archs.HRNET, archs.SIMPLE_CNN)


def _options(model_cfg: dict) -> dict:
    arch = model_cfg.get("arch")
    if arch not in ARCH_OPTIONS:
        raise InputError(f"config model.arch: {arch}", "is not a known architecture",
                         f"use one of {', '.join(ARCH_NAMES)}")
    opts = dict(ARCH_OPTIONS[arch])
    opts.update({k: model_cfg[k] for k in opts if model_cfg.get(k) is not None})
    return opts


def _check_size(arch: str, image_size: int, size_key: str, divisor: int, why: str,
                other: str = "choose another model.arch") -> None:
    if image_size % divisor:
        good = math.lcm(divisor, 32)
        raise InputError(f"config model.arch: {arch} / {size_key}: {image_size}",
                         f"{arch} needs {size_key} divisible by {divisor} ({why})",
                         f"set {size_key} to a multiple of {divisor} (with the multiple-of-32 rule: "
                         f"{', '.join(str(good * k) for k in (1, 2, 3, 4))}, ...) or {other}")


def _build_sm(arch: str, opts: dict, image_size: int, n_classes: int, size_key: str):
    if arch == "PSPNet":
        factor = int(opts["downsample_factor"])
        if factor not in (4, 8, 16):
            raise InputError(f"config model.downsample_factor: {factor}", "PSPNet supports 4, 8 or 16",
                             "set it to 8 (the default)")
        _check_size(arch, image_size, size_key, 6 * factor, f"6 x downsample_factor {factor}, segmentation-models' PSP pooling",
                    "change model.downsample_factor (4, 8 or 16) or choose another model.arch")
    else:
        _check_size(arch, image_size, size_key, 32, "the encoder down-samples 5 times")
    backbone = opts["backbone"]
    if backbone not in sm.get_available_backbone_names():
        raise InputError(f"config model.backbone: {backbone}", "is not a segmentation-models backbone",
                         f"use one of {', '.join(sm.get_available_backbone_names())}")
    kwargs = dict(
        input_shape=(image_size, image_size, 3),
        classes=n_classes,
        activation=archs.output_activation(n_classes),
        encoder_weights=resolve_encoder_weights(opts["encoder_weights"]),
        encoder_freeze=bool(opts["encoder_freeze"]),
    )
    if arch == "Unet" and opts.get("decoder_filters"):
        kwargs["decoder_filters"] = tuple(opts["decoder_filters"])
    if arch == "PSPNet":
        kwargs["downsample_factor"] = int(opts["downsample_factor"])
    return SM_ARCHITECTURES[arch](backbone, **kwargs)


def _build_custom(arch: str, opts: dict, image_size: int, n_classes: int, model_cfg: dict, size_key: str):
    shape = (image_size, image_size, 3)
    if arch in NO_ENCODER:
        for key, harmless in (("encoder_weights", None), ("encoder_freeze", False)):
            if model_cfg.get(key, harmless) not in (harmless, None):
                raise InputError(f"config model.{key}: {model_cfg[key]}", f"{arch} has no pretrained encoder",
                                 f"set model.{key} to {'null' if harmless is None else 'false'} or use Unet, FPN, "
                                 "Linknet, PSPNet or mobilenetv2_fcn")
    if arch == archs.CUSTOM_UNET:
        depth = int(opts["depth"])
        _check_size(arch, image_size, size_key, 2 ** depth, f"2 ** depth, depth {depth}", "lower model.depth")
        return archs.custom_unet(shape, n_classes, depth=depth, base_filters=int(opts["base_filters"]),
                                 convs_per_level=int(opts["convs_per_level"]), dropout=float(opts["dropout"]),
                                 batchnorm=bool(opts["batchnorm"]))
    if arch == archs.HRNET:
        branches = int(opts["branches"])
        if not 2 <= branches <= 4:
            raise InputError(f"config model.branches: {branches}", "HRNet supports 2 to 4 branches",
                             "set it to 2, 3 or 4")
        _check_size(arch, image_size, size_key, archs.required_divisor(arch, branches=branches),
                    f"stride-4 stem and {branches - 1} halvings for {branches} branches", "use fewer model.branches")
        return archs.hrnet(shape, n_classes, width=int(opts["width"]), branches=branches, blocks=int(opts["blocks"]))
    if arch == archs.MOBILENETV2_FCN:
        _check_size(arch, image_size, size_key, 32, "MobileNetV2 down-samples 5 times")
        if len(opts["fcn_filters"]) != 4:
            raise InputError(f"config model.fcn_filters: {opts['fcn_filters']}",
                             "needs 4 values (one per decoder stage)", "give 4 filter counts, e.g. [512, 256, 128, 64]")
        model = archs.mobilenetv2_fcn(shape, n_classes, weights=resolve_encoder_weights(opts["encoder_weights"]),
                                      alpha=float(opts["alpha"]),
                                      decoder_filters=tuple(int(f) for f in opts["fcn_filters"]))
        if opts["encoder_freeze"]:
            set_encoder_trainable(model, False)
        return model
    return archs.simple_cnn(shape, n_classes, filters=int(opts["filters"]), layers=int(opts["layers"]))


def build_model(model_cfg: dict, image_size: int, n_classes: int = 1, size_key: str = "image_size"):
    """The segmentation model configured under ``model:`` for square ``image_size`` RGB inputs.

    ``n_classes == 1``: one sigmoid channel (binary); otherwise ``n_classes`` softmax channels
    (class 0 = background). ``model_cfg["arch"]`` picks the architecture; the keys it reads
    and their defaults are listed in :data:`ARCH_OPTIONS`. Raises :class:`InputError` for a
    configuration that cannot work (unknown arch or backbone, image_size not divisible as the
    architecture needs, missing or incompatible encoder weights file); ``size_key`` is the config
    key the error names for the side (``train.patch_size`` in native mode).
    """
    if int(n_classes) < 1:
        raise InputError(f"n_classes: {n_classes}", "must be at least 1", "use 1 for binary segmentation")
    arch = model_cfg.get("arch", "Unet")
    opts = _options({**model_cfg, "arch": arch})
    local_weights = opts.get("encoder_weights") not in (None, "imagenet")
    try:
        if arch in SM_ARCHITECTURES:
            model = _build_sm(arch, opts, image_size, int(n_classes), size_key)
        else:
            model = _build_custom(arch, opts, image_size, int(n_classes), model_cfg, size_key)
        momentum = model_cfg.get("bn_momentum")
        if momentum is not None:
            set_bn_momentum(model, float(momentum))
        if keras.mixed_precision.global_policy().compute_dtype != "float32":
            model = float32_output(model)
        return model
    except InputError:
        raise
    except (ValueError, OSError) as exc:
        if local_weights:
            raise InputError(f"config model.encoder_weights: {opts['encoder_weights']}",
                             f"could not be loaded into the {arch} encoder ({exc})",
                             "use a weights file saved from the same encoder (same backbone/alpha, include_top=False)"
                             ) from exc
        raise InputError(f"config model (arch {arch})", str(exc), "check the model options") from exc
    except Exception as exc:  # keras' get_file: "URL fetch failure on https://..." without network
        if opts.get("encoder_weights") == "imagenet" and "fetch failure" in str(exc):
            raise InputError("config model.encoder_weights: imagenet", f"could not be downloaded ({exc})",
                             "give a local weights file of the same encoder (include_top=False), downloaded "
                             "elsewhere, or null") from exc
        raise


def float32_output(model):
    """The same network with its output activation (every builder's last layer) computing in float32,
    as Keras' mixed-precision guide asks: a sigmoid in bfloat16 rounds probabilities above ~0.996 to
    1, where its gradient vanishes."""
    last = model.layers[-1]
    out = keras.layers.Activation(last.activation, dtype="float32", name=last.name)(last.input)
    return keras.Model(model.input, out, name=model.name)


def set_bn_momentum(model, momentum: float) -> int:
    """Set the momentum of every BatchNormalization layer (nested models included); returns how
    many. Keras' 0.99 averages the moving statistics over ~100 steps: on a small data set with
    early stopping, a randomly initialised deep encoder can stop before they match its weights,
    and then predicts nothing at validation although it fits the training batches."""
    if not 0.0 < momentum < 1.0:
        raise InputError(f"config model.bn_momentum: {momentum}", "is not between 0 and 1",
                         "use e.g. 0.9, or null for the architecture's default")
    count = 0
    for layer in model.submodules:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = momentum
            count += 1
    return count


# ----------------------------------------------------------------------------------------------
# Encoder freezing
# ----------------------------------------------------------------------------------------------

def encoder_layers(model) -> list:
    """The encoder's layers of a segmentation-models or ``mobilenetv2_fcn`` model.

    The decoder is every layer downstream of the first decoder layers (names starting with one
    of :data:`DECODER_SEEDS`); the encoder is everything else but the input. Works on a freshly
    built model and on one reloaded from .h5. Raises ``ValueError`` for models without one.
    """
    if model.name in NO_ENCODER:
        raise ValueError(f"{model.name} has no (pretrained) encoder to freeze")
    members = {id(layer) for layer in model.layers}
    decoder, stack = set(), [layer for layer in model.layers if layer.name.startswith(DECODER_SEEDS)]
    if not stack:
        raise ValueError(f"model {model.name!r}: no decoder layers ({', '.join(DECODER_SEEDS)}...) found, "
                         "so the encoder cannot be told apart")
    while stack:
        layer = stack.pop()
        if id(layer) in decoder:
            continue
        decoder.add(id(layer))
        stack.extend(node.outbound_layer for node in layer.outbound_nodes if id(node.outbound_layer) in members)
    return [layer for layer in model.layers
            if id(layer) not in decoder and not isinstance(layer, keras.layers.InputLayer)]


def set_encoder_trainable(model, trainable: bool, include_batchnorm: bool = False) -> int:
    """Freeze (``False``) or unfreeze (``True``) the encoder, e.g. for a frozen warm-up.

    Like segmentation-models' ``encoder_freeze``, BatchNormalization layers are left alone
    unless ``include_batchnorm`` (frozen BatchNorm layers run in inference mode). Recompile the
    model afterwards for the change to take effect in training. Returns the number of layers set.
    """
    count = 0
    for layer in encoder_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization) and not include_batchnorm:
            continue
        layer.trainable = bool(trainable)
        count += 1
    return count


# ----------------------------------------------------------------------------------------------
# Metrics and loading
# ----------------------------------------------------------------------------------------------

def _masked_binary_metrics(threshold: float, ignore_value):
    smooth = 1e-5

    def counts(y_true, y_pred):
        gt, pr, valid = _binary_inputs(y_true, y_pred, ignore_value)
        pr = tf.cast(pr > threshold, pr.dtype)
        return _overlap(gt, pr, valid)

    def iou_score(y_true, y_pred):
        tp, sum_gt, sum_pr = counts(y_true, y_pred)
        return tf.reduce_mean((tp + smooth) / (sum_gt + sum_pr - tp + smooth))

    def f1_score(y_true, y_pred):
        tp, sum_gt, sum_pr = counts(y_true, y_pred)
        return tf.reduce_mean((2.0 * tp + smooth) / (sum_gt + sum_pr + smooth))

    f1_score.__name__ = "f1-score"
    return [iou_score, f1_score]


def make_metrics(threshold: float, n_classes: int = 1, ignore_value=None) -> list:
    """Training metrics; Keras logs them as ``iou_score`` (and ``f1-score`` when binary).

    Binary: IoU and F-score at ``threshold`` (segmentation-models'; with ``ignore_value`` the
    same formulas over the non-ignored pixels). Multi-class: mean IoU over all ``n_classes``
    classes (background included) of the arg-max prediction, ignoring ``ignore_value`` pixels.
    """
    if n_classes > 1:
        return [keras.metrics.MeanIoU(num_classes=int(n_classes), name="iou_score", sparse_y_true=True,
                                      sparse_y_pred=False, ignore_class=ignore_value)]
    if ignore_value is not None:
        return _masked_binary_metrics(threshold, ignore_value)
    return [sm.metrics.IOUScore(threshold=threshold), sm.metrics.FScore(threshold=threshold)]


def load_model(path: str):
    """Load a saved model for inference (no optimizer or custom loss needed)."""
    return keras.models.load_model(path, compile=False)
