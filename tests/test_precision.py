"""Mixed precision and XLA: which policy ``auto`` picks (float16 on a GPU, bfloat16 on a CPU with AMX),
and, forced on where there is no GPU, the code path a GPU run takes (reduced-precision compute with
float32 variables, jit-compiled train step) with a saved model that is plain float32 for prediction
and quantization."""

import logging

import numpy as np
import pandas as pd
import pytest
import yaml

from helpers import REPO
from snakeseg.tfenv import cpu_has_amx_bf16, keras, machine_policy, mixed_policy, tf
from snakeseg.training.devices import configure_devices, is_xla_compile_error, xla_failure_reason
from snakeseg.training.fit import fit_fold
from test_training_pipeline import write_pairs


def _shard(tmp_path, n=8, size=32):
    write_pairs(tmp_path / "s.tfrec", n, np.random.default_rng(0), size=size, n_labels=2)
    return str(tmp_path / "s.tfrec")


def test_auto_picks_float16_on_a_gpu_bfloat16_on_a_cpu_with_amx_else_float32():
    assert mixed_policy("auto", gpu=True, amx=False) == "mixed_float16"
    assert mixed_policy("auto", gpu=False, amx=True) == "mixed_bfloat16"
    assert mixed_policy("auto", gpu=False, amx=False) == "float32"
    assert mixed_policy(True, gpu=False, amx=False) == "mixed_bfloat16"  # float16 has no fast CPU kernels
    assert mixed_policy(False, gpu=True, amx=True) == "float32"


def test_amx_is_read_from_the_cpu_flags(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16 amx_tile\n")
    assert not cpu_has_amx_bf16(str(info))  # bfloat16 vector instructions alone are not AMX
    info.write_text("processor\t: 0\nflags\t\t: fpu avx512f amx_bf16 amx_tile amx_int8\n")
    assert cpu_has_amx_bf16(str(info))
    assert not cpu_has_amx_bf16(str(tmp_path / "absent"))


def test_training_auto_is_off_on_a_cpu_and_prediction_auto_follows_its_amx():
    assert not tf.config.list_physical_devices("GPU")
    try:
        assert configure_devices({"mixed_precision": "auto", "xla": "auto"}) == (False, False)
        assert keras.mixed_precision.global_policy().name == "float32"
        assert configure_devices({"mixed_precision": True, "xla": False}) == (True, False)
        assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert machine_policy("auto") == ("mixed_bfloat16" if cpu_has_amx_bf16() else "float32")


@pytest.mark.slow
def test_mixed_precision_and_xla_forced_on_train_and_save_a_float32_model(tmp_path, caplog):
    train_cfg = yaml.safe_load((REPO / "config.yaml").read_text())["train"]
    train_cfg.update(epochs=2, min_steps_per_epoch=3, batch_size=4, mixed_precision=True, xla=True,
                     early_stopping_patience=5, reduce_lr_patience=5, validation_every=1)
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
