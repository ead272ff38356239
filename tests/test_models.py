"""Architectures, losses, metrics and encoder handling of snakeseg.training.models (tiny inputs, fast)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from snakeseg.errors import InputError
from snakeseg.tfenv import keras, sm, tf
from snakeseg.deploy.convert import convert_dynamic_range
from snakeseg.deploy.runtime import TFLiteModel
from snakeseg.inference.predictor import _any_size, keras_models
from snakeseg.training import architectures, models
from snakeseg.training.losses import make_loss
from snakeseg.training.models import build_model, encoder_layers, load_model, make_metrics, set_encoder_trainable
from snakeseg.training.recipe import model_side, side_key

IGNORE = 255

# (config, binary image size, 3-class image size); small widths keep every model tiny.
ARCH_CASES = {
    "custom_unet": ({"arch": "custom_unet", "depth": 3, "base_filters": 4, "dropout": 0.1}, 32, 32),
    "hrnet": ({"arch": "hrnet", "width": 4, "blocks": 1}, 32, 32),
    "simple_cnn": ({"arch": "simple_cnn", "filters": 4, "layers": 2}, 32, 32),
    "mobilenetv2_fcn": ({"arch": "mobilenetv2_fcn", "alpha": 0.35, "fcn_filters": [16, 8, 8, 8]}, 32, 32),
    "Unet": ({"arch": "Unet", "backbone": "resnet18", "decoder_filters": [16, 8, 8, 4, 4]}, 32, 32),
    "FPN": ({"arch": "FPN", "backbone": "resnet18"}, 32, 32),
    "Linknet": ({"arch": "Linknet", "backbone": "resnet18"}, 32, 32),
    "PSPNet": ({"arch": "PSPNet", "backbone": "resnet18"}, 48, 96),
}
# Which variant takes the train / save / reload / TFLite round: both heads get covered.
ROUND_TRIP_CLASSES = {"custom_unet": 3, "hrnet": 1, "simple_cnn": 1, "mobilenetv2_fcn": 3,
                      "Unet": 1, "FPN": 3, "Linknet": 1, "PSPNet": 1}


@pytest.fixture
def fast_tflite(monkeypatch):
    """Skip the converter's Keras -> SavedModel detour (tens of seconds per model on 2 cores).

    ``TFLiteConverter.from_keras_model`` first exports a SavedModel and converts that; when the
    export fails it converts the traced, frozen model call instead. The ops and the result are
    the same; only the export is slow. ``test_tflite_real_path`` runs the unpatched converter.
    """
    from tensorflow.lite.python import lite

    monkeypatch.setattr(lite.TFLiteKerasModelConverterV2, "_convert_as_saved_model", lambda self: None,
                        raising=False)


def _batch(size: int, n_classes: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.random((2, size, size, 3), dtype=np.float32)
    if n_classes == 1:
        y = (rng.random((2, size, size, 1)) > 0.5).astype(np.float32)
    else:
        y = rng.integers(0, n_classes, (2, size, size, 1)).astype(np.float32)
        y[:, :3, :3] = IGNORE
    return x, y


def _check_head(model, size: int, n_classes: int):
    assert model.output_shape == (None, size, size, n_classes)
    assert model.layers[-1].name == ("sigmoid" if n_classes == 1 else "softmax")
    x, _ = _batch(size, n_classes)
    pred = model(x[:1], training=False).numpy()
    assert np.all((pred >= 0) & (pred <= 1))
    if n_classes > 1:
        np.testing.assert_allclose(pred.sum(-1), 1.0, atol=1e-5)


def _no_custom_layers(model):
    builtin = ("tf_keras.src.layers", "tf_keras.src.engine")
    for layer in model.layers:
        assert type(layer).__module__.startswith(builtin), f"{layer.name}: {type(layer)}"
        assert not isinstance(layer, keras.layers.Lambda)


def _train_step(model, n_classes: int, size: int, eager: bool):
    ignore = IGNORE if n_classes > 1 else None
    loss = "dice_focal" if n_classes == 1 else "cce_ignore"
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=make_loss(loss, n_classes, ignore),
                  metrics=make_metrics(0.5, n_classes, ignore), run_eagerly=eager)
    x, y = _batch(size, n_classes)
    logs = model.train_on_batch(x, y, return_dict=True)
    assert math.isfinite(logs["loss"]) and "iou_score" in logs
    return x


@pytest.mark.parametrize("name", list(ARCH_CASES))
def test_architecture_round_trip(name, tmp_path, fast_tflite):
    """Build (binary and 3-class), one training step, .h5 save/reload, TFLite dynamic range."""
    cfg, size1, size3 = ARCH_CASES[name]
    built = {1: build_model(cfg, size1, 1), 3: build_model(cfg, size3, 3)}
    for n, model in built.items():
        _check_head(model, size1 if n == 1 else size3, n)
    if name in ("custom_unet", "hrnet", "simple_cnn", "mobilenetv2_fcn"):
        _no_custom_layers(built[1])

    n = ROUND_TRIP_CLASSES[name]
    size = size1 if n == 1 else size3
    model = built[n]
    # Tracing the training step of a ~100-layer model is slow on a CPU; eager gives the same
    # gradients. simple_cnn trains in graph mode (as fit_fold does), with both losses.
    x = _train_step(model, n, size, eager=name != "simple_cnn")
    if name == "simple_cnn":
        _train_step(built[4 - n], 4 - n, size3 if n == 1 else size1, eager=False)

    path = tmp_path / f"{name}.h5"
    model.save(path)  # with the compile config, as ModelCheckpoint saves it
    reloaded = load_model(str(path))
    expected = model(x, training=False).numpy()
    np.testing.assert_array_equal(expected, reloaded(x, training=False).numpy())

    # Prediction jobs build the saved model once, with an input of any size unless it is PSPNet.
    (call,), side, whole = keras_models([str(path)])
    assert (side, whole) == (size, name != "PSPNet")
    larger = np.random.default_rng(1).random((1, 2 * size, 3 * size, 3), dtype=np.float32)
    if whole:
        np.testing.assert_allclose(call(larger), _any_size(model)(larger, training=False).numpy(), atol=1e-4)
    else:
        np.testing.assert_allclose(call(x), expected, atol=1e-4)
    # bfloat16 compute (predict.mixed_precision on a bfloat16 CPU): float32 probabilities, near the same
    (half,), _, _ = keras_models([str(path)], "mixed_bfloat16")
    probe = larger if whole else x
    probs = half(probe)
    assert probs.dtype == np.float32 and np.abs(probs - call(probe)).mean() < 0.02

    tfl = TFLiteModel(convert_dynamic_range(reloaded)).predict(x)
    assert tfl.shape == (2, size, size, n)
    assert np.abs(tfl - expected).mean() < 0.05


def test_tflite_real_path():
    """The converter exactly as the quantize step runs it (SavedModel export included)."""
    model = build_model(ARCH_CASES["simple_cnn"][0], 32, 3)
    x, _ = _batch(32, 3)
    out = TFLiteModel(convert_dynamic_range(model)).predict(x)
    np.testing.assert_allclose(out, model(x, training=False).numpy(), atol=0.05)


def test_pspnet_size_error_and_other_config_errors():
    with pytest.raises(InputError, match=r"model\.arch.*image_size.*divisible by 48") as err:
        build_model({"arch": "PSPNet", "backbone": "resnet18"}, 64)
    assert "96" in err.value.fix
    # Native mode builds the network at the patch size: the error names the key to change.
    native = {"mode": "native", "image_size": 96, "patch_size": 128}
    with pytest.raises(InputError, match=r"model\.arch.*train\.patch_size: 128.*divisible by 48") as err:
        build_model({"arch": "PSPNet", "backbone": "resnet18"}, model_side(native), 1, side_key(native))
    assert "set train.patch_size to a multiple of 48" in err.value.fix
    with pytest.raises(InputError, match="model.arch: nope"):
        build_model({"arch": "nope"}, 64)
    with pytest.raises(InputError, match="image_size"):
        build_model({"arch": "custom_unet", "depth": 4}, 40)
    with pytest.raises(InputError, match="model.encoder_weights"):
        build_model({"arch": "hrnet", "encoder_weights": "imagenet"}, 32)
    with pytest.raises(InputError, match="model.encoder_weights"):
        build_model({"arch": "Unet", "backbone": "resnet18", "encoder_weights": "/no/such.h5"}, 32)
    with pytest.raises(InputError, match="model.backbone"):
        build_model({"arch": "FPN", "backbone": "resnet19"}, 32)


def _randomize(model, seed=1):
    rng = np.random.default_rng(seed)
    model.set_weights([rng.uniform(0.1, 1.0, w.shape).astype(np.float32) for w in model.get_weights()])


def _assert_encoder_loaded(encoder, model, expected_missing=()):
    compared = 0
    for layer in encoder.layers:
        if not layer.weights or layer.name in expected_missing:
            continue
        for saved, loaded in zip(layer.get_weights(), model.get_layer(layer.name).get_weights()):
            np.testing.assert_array_equal(saved, loaded)
        compared += 1
    assert compared > 10


def test_sm_unet_loads_local_encoder_weights(tmp_path):
    encoder = sm.inject_global_submodules(sm.Backbones.get_backbone)(
        "resnet18", input_shape=(32, 32, 3), weights=None, include_top=False)
    _randomize(encoder)
    path = tmp_path / "resnet18_no_top.h5"
    encoder.save_weights(path)
    cfg = {"arch": "Unet", "backbone": "resnet18", "encoder_weights": str(path), "decoder_filters": [16, 8, 8, 4, 4]}
    model = build_model(cfg, 32)
    _assert_encoder_loaded(encoder, model)

    # The encoder set_encoder_trainable acts on is exactly the backbone.
    weighted = lambda layers: {layer.name for layer in layers if layer.weights}  # noqa: E731
    assert weighted(encoder_layers(model)) == weighted(encoder.layers)
    before = len(model.trainable_weights)
    assert set_encoder_trainable(model, False) > 0
    frozen = len(model.trainable_weights)
    assert frozen < before
    assert all(not layer.trainable_weights for layer in encoder_layers(model)
               if not isinstance(layer, keras.layers.BatchNormalization))
    assert any(w.name.startswith("decoder_") for w in model.trainable_weights)
    set_encoder_trainable(model, True)
    assert len(model.trainable_weights) == before
    set_encoder_trainable(model, False, include_batchnorm=True)
    assert len(model.trainable_weights) < frozen
    # Same frozen state as segmentation-models' own encoder_freeze.
    set_encoder_trainable(model, True, include_batchnorm=True)
    sm_frozen = build_model({**cfg, "encoder_weights": None, "encoder_freeze": True}, 32)
    assert len(sm_frozen.trainable_weights) == frozen


def test_mobilenetv2_fcn_loads_local_encoder_weights(tmp_path):
    encoder = keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, include_top=False, weights=None)
    _randomize(encoder)
    path = tmp_path / "mobilenetv2_0.35_no_top.h5"
    encoder.save_weights(path)
    cfg = {"arch": "mobilenetv2_fcn", "alpha": 0.35, "fcn_filters": [16, 8, 8, 8], "encoder_weights": str(path)}
    model = build_model(cfg, 32)
    # The FCN taps block_16_project (as the TensorFlow tutorial does): the layers after it are unused.
    _assert_encoder_loaded(encoder, model, expected_missing=("block_16_project_BN", "Conv_1", "Conv_1_bn"))
    assert all(layer.name in {l.name for l in encoder.layers} or layer.name == "preprocess"
               for layer in encoder_layers(model))

    before = len(model.trainable_weights)
    set_encoder_trainable(model, False)
    frozen = len(model.trainable_weights)
    assert frozen < before
    set_encoder_trainable(model, True)
    assert len(model.trainable_weights) == before
    with pytest.raises(InputError, match="fcn_filters"):
        build_model({**cfg, "fcn_filters": [8, 8]}, 32)
    assert len(build_model({**cfg, "encoder_freeze": True}, 32).trainable_weights) == frozen


def test_set_encoder_trainable_without_encoder():
    with pytest.raises(ValueError, match="no .*encoder"):
        set_encoder_trainable(architectures.simple_cnn((32, 32, 3), 1, filters=2, layers=1), False)


# ----------------------------------------------------------------------------------------------
# Losses
# ----------------------------------------------------------------------------------------------

GT = np.array([1, 0, 1, 0], np.float32).reshape(1, 2, 2, 1)
PR = np.array([0.8, 0.2, 0.6, 0.4], np.float32).reshape(1, 2, 2, 1)
LN8, LN6 = -math.log(0.8), -math.log(0.6)
HAND = {  # computed by hand for GT, PR
    "bce": (2 * LN8 + 2 * LN6) / 4,
    "dice": 1 - 2 * 1.4 / (2 + 2.0),
    "jaccard": 1 - 1.4 / (2 + 2.0 - 1.4),
    "focal": (0.25 * 0.2 ** 2 * LN8 + 0.25 * 0.4 ** 2 * LN6 + 0.75 * 0.2 ** 2 * LN8 + 0.75 * 0.4 ** 2 * LN6) / 4,
}
HAND["dice_focal"] = HAND["dice"] + HAND["focal"]
HAND["bce_dice"] = HAND["bce"] + HAND["dice"]


def _value(loss, y_true, y_pred):
    return float(loss(tf.constant(y_true), tf.constant(y_pred)))


@pytest.mark.parametrize("name", ["bce", "dice", "jaccard", "dice_focal", "bce_dice"])
def test_binary_loss_hand_values_and_sm_parity(name):
    assert _value(make_loss(name), GT, PR) == pytest.approx(HAND[name], abs=1e-5)
    sm_loss = {"bce": sm.losses.BinaryCELoss(), "dice": sm.losses.DiceLoss(), "jaccard": sm.losses.JaccardLoss(),
               "dice_focal": sm.losses.DiceLoss() + sm.losses.BinaryFocalLoss(),
               "bce_dice": sm.losses.BinaryCELoss() + sm.losses.DiceLoss()}[name]
    rng = np.random.default_rng(3)
    gt = (rng.random((2, 8, 8, 1)) > 0.6).astype(np.float32)
    pr = rng.random((2, 8, 8, 1)).astype(np.float32)
    assert _value(make_loss(name), gt, pr) == pytest.approx(_value(sm_loss, gt, pr), abs=1e-5)


@pytest.mark.parametrize("name", ["bce", "dice", "jaccard", "dice_focal", "bce_dice"])
def test_binary_loss_ignores_pixels(name):
    rng = np.random.default_rng(4)
    gt = (rng.random((2, 8, 8, 1)) > 0.5).astype(np.float32)
    pr = rng.random((2, 8, 8, 1)).astype(np.float32)
    ignored = rng.random((2, 8, 8, 1)) < 0.3
    gt[ignored] = IGNORE
    valid = ~ignored
    plain_on_valid = _value(make_loss(name), gt[valid].reshape(1, -1, 1, 1), pr[valid].reshape(1, -1, 1, 1))
    masked = _value(make_loss(name, ignore_value=IGNORE), gt, pr)
    assert masked == pytest.approx(plain_on_valid, abs=1e-5)
    pr2 = pr.copy()
    pr2[ignored] = rng.random(int(ignored.sum()))
    assert _value(make_loss(name, ignore_value=IGNORE), gt, pr2) == pytest.approx(masked, abs=1e-6)


def test_dice_of_perfect_prediction_is_zero():
    gt = np.zeros((1, 4, 4, 1), np.float32)
    gt[0, 1:3, 1:3] = 1
    assert _value(make_loss("dice"), gt, gt) == pytest.approx(0.0, abs=1e-6)
    assert _value(make_loss("jaccard"), gt, gt) == pytest.approx(0.0, abs=1e-6)


def test_cce_ignore():
    # Three pixels, three classes; the third pixel is ignored.
    labels = np.array([0, 2, IGNORE], np.float32).reshape(1, 1, 3, 1)
    probs = np.array([[0.7, 0.2, 0.1], [0.25, 0.25, 0.5], [0.9, 0.05, 0.05]], np.float32).reshape(1, 1, 3, 3)
    loss = make_loss("cce_ignore", 3, IGNORE)
    expected = (-math.log(0.7) - math.log(0.5)) / 2
    assert _value(loss, labels, probs) == pytest.approx(expected, abs=1e-5)
    probs2 = probs.copy()
    probs2[0, 0, 2] = [0.05, 0.05, 0.9]
    assert _value(loss, labels, probs2) == pytest.approx(expected, abs=1e-5)
    assert _value(make_loss("cce_ignore", 3), labels[:, :, :2], probs[:, :, :2]) == pytest.approx(expected, abs=1e-5)


def test_make_loss_errors_and_reexport():
    assert models.make_loss is make_loss
    with pytest.raises(InputError, match="train.loss"):
        make_loss("nope")
    with pytest.raises(InputError, match="cce_ignore"):
        make_loss("dice", n_classes=3)
    with pytest.raises(InputError, match="cce_ignore"):
        make_loss("cce_ignore", n_classes=1)


def test_masked_binary_metrics_ignore_pixels():
    gt = GT.copy()
    gt[0, 1, 1] = IGNORE  # the 0.4 prediction (thresholded to 0) no longer counts
    iou, f1 = make_metrics(0.5, 1, IGNORE)
    assert f1.__name__ == "f1-score"
    # thresholded prediction [1, 0, 1]; truth [1, 0, 1] -> perfect
    assert _value(iou, gt, PR) == pytest.approx(1.0, abs=1e-5)
    pr = PR.copy()
    pr[0, 1, 1] = 0.9  # prediction at the ignored pixel does not matter
    assert _value(f1, gt, pr) == pytest.approx(1.0, abs=1e-5)


def test_bn_momentum_reaches_every_batchnorm_layer():
    model = build_model({"arch": "mobilenetv2_fcn", "alpha": 0.35, "fcn_filters": [16, 8, 8, 8], "bn_momentum": 0.9},
                        32, 1)
    bns = [layer for layer in model.submodules if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(bns) > 10 and {layer.momentum for layer in bns} == {0.9}
    default = build_model({"arch": "Unet", "backbone": "resnet18", "decoder_filters": [16, 8, 8, 4, 4]}, 32, 1)
    assert {layer.momentum for layer in default.submodules if isinstance(layer, keras.layers.BatchNormalization)} \
        == {0.99}
    with pytest.raises(InputError, match="bn_momentum"):
        models.set_bn_momentum(default, 1.5)


def test_imagenet_weights_that_cannot_be_downloaded_name_the_local_file_fix(monkeypatch):
    def offline(*args, **kwargs):  # what keras' get_file raises on a machine without the internet
        raise Exception("URL fetch failure on https://github.com/x/resnet18_no_top.h5: None -- [Errno -2]")

    monkeypatch.setattr(models, "_build_sm", offline)
    with pytest.raises(InputError, match="encoder_weights: imagenet: could not be downloaded .* give a local weights"):
        models.build_model({"arch": "Unet", "encoder_weights": "imagenet"}, 64)
