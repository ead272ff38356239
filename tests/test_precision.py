"""Mixed precision and XLA, forced on where there is no GPU: the same code path a GPU run takes
(float16 compute with float32 variables and loss scaling, jit-compiled train step), and a saved
model that is plain float32 for prediction and quantization."""

import logging

import numpy as np
import pandas as pd
import pytest
import yaml

from helpers import REPO
from snakeseg.tfenv import keras, tf
from snakeseg.training.devices import configure_devices, is_xla_compile_error, xla_failure_reason
from snakeseg.training.fit import fit_fold
from test_training_pipeline import write_pairs


def _shard(tmp_path, n=8, size=32):
    write_pairs(tmp_path / "s.tfrec", n, np.random.default_rng(0), size=size, n_labels=2)
    return str(tmp_path / "s.tfrec")


def test_auto_is_off_without_a_gpu():
    assert not tf.config.list_physical_devices("GPU")
    assert configure_devices({"mixed_precision": "auto", "xla": "auto"}) == (False, False)
    assert keras.mixed_precision.global_policy().name == "float32"


@pytest.mark.slow
def test_mixed_precision_and_xla_forced_on_train_and_save_a_float32_model(tmp_path, caplog):
    train_cfg = yaml.safe_load((REPO / "config.yaml").read_text())["train"]
    train_cfg.update(epochs=2, min_steps_per_epoch=3, batch_size=4, mixed_precision=True, xla=True,
                     early_stopping_patience=5, reduce_lr_patience=5)
    record = _shard(tmp_path)
    model_cfg = {"arch": "Unet", "backbone": "resnet18", "decoder_filters": [16, 8, 8, 4, 4]}
    try:
        final, history = fit_fold([record], [record], 8, model_cfg, train_cfg, 32, str(tmp_path / "work"),
                                  fingerprint="mp")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    frame = pd.read_csv(history)
    assert frame["epoch"].tolist() == [0, 1] and np.isfinite(frame[["loss", "val_loss"]].to_numpy()).all()
    # segmentation-models' Unet upsamples with UpSampling2D, whose gradient XLA cannot compile
    # (CPU and GPU alike): training goes on without XLA and the log says why
    assert "XLA cannot compile this model's training step (ResizeNearestNeighborGrad" in caplog.text
    model = keras.models.load_model(final, compile=False)
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    assert all(w.dtype == np.float32 for w in model.get_weights())
    out = model(np.zeros((1, 32, 32, 3), np.float32))
    assert out.dtype == tf.float32 and out.shape == (1, 32, 32, 1)


def test_xla_compiles_a_model_it_supports(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="snakeseg")
    train_cfg = yaml.safe_load((REPO / "config.yaml").read_text())["train"]
    train_cfg.update(epochs=1, min_steps_per_epoch=2, batch_size=4, mixed_precision=False, xla=True)
    record = _shard(tmp_path)
    _, history = fit_fold([record], [record], 8, {"arch": "simple_cnn", "filters": 4, "layers": 2},
                          train_cfg, 32, str(tmp_path / "work"), fingerprint="xla")
    assert len(pd.read_csv(history)) == 1
    assert "XLA on" in caplog.text and "cannot compile" not in caplog.text


def test_xla_errors_are_told_apart_from_others():
    err = tf.errors.InvalidArgumentError(None, None, "Detected unsupported operations when trying to compile "
                                         "graph __inference_run_step_1[] on XLA_GPU_JIT: ResizeNearestNeighborGrad "
                                         "(No registered 'ResizeNearestNeighborGrad' OpKernel ...)")
    assert is_xla_compile_error(err)
    assert xla_failure_reason(err) == "ResizeNearestNeighborGrad"
    assert not is_xla_compile_error(tf.errors.InvalidArgumentError(None, None, "Incompatible shapes"))
