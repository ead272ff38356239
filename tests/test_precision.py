"""Mixed precision and XLA: which policy ``auto`` picks (float16 on a GPU, bfloat16 on a CPU with bfloat16
instructions),
and, forced on where there is no GPU, the code path a GPU run takes (reduced-precision compute with
float32 variables, jit-compiled train step) with a saved model that is plain float32 for prediction
and quantization."""

import logging

import numpy as np
import pandas as pd
import pytest
import yaml

from helpers import REPO
from snakeseg.tfenv import cpu_has_bf16, keras, machine_policy, mixed_policy, tf
from snakeseg import tfenv
from snakeseg.training.devices import configure_devices, is_xla_compile_error, xla_failure_reason
from snakeseg.training.fit import fit_fold
from test_training_pipeline import write_pairs


def _shard(tmp_path, n=8, size=32):
    write_pairs(tmp_path / "s.tfrec", n, np.random.default_rng(0), size=size, n_labels=2)
    return str(tmp_path / "s.tfrec")


def test_auto_picks_float16_on_a_gpu_bfloat16_on_a_bfloat16_cpu_else_float32():
    assert mixed_policy("auto", gpu=True, bf16_cpu=False) == "mixed_float16"
    assert mixed_policy("auto", gpu=False, bf16_cpu=True) == "mixed_bfloat16"
    assert mixed_policy("auto", gpu=False, bf16_cpu=False) == "float32"
    assert mixed_policy(True, gpu=False, bf16_cpu=False) == "mixed_bfloat16"  # float16 has no fast CPU kernels
    assert mixed_policy(False, gpu=True, bf16_cpu=True) == "float32"


def test_bfloat16_hardware_is_read_from_the_cpu_flags(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_vnni f16c\n")
    assert not cpu_has_bf16(str(info))  # AVX-512 without its BF16 extension, float16 conversions
    for flags in ("avx512f avx512_bf16", "avx512f amx_bf16 amx_tile amx_int8"):  # AMD Zen 4, Intel AMX
        info.write_text(f"processor\t: 0\nflags\t\t: fpu {flags}\n")
        assert cpu_has_bf16(str(info))
    assert not cpu_has_bf16(str(tmp_path / "absent"))


def test_under_mixed_precision_only_the_output_activation_computes_in_float32():
    from snakeseg.training.models import build_model

    model_cfg = {"arch": "Unet", "backbone": "resnet18", "decoder_filters": [16, 8, 8, 4, 4]}
    try:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        model = build_model(model_cfg, 32, 1)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    last, logits = model.layers[-1], model.layers[-2]
    assert (last.name, last.compute_dtype, logits.compute_dtype) == ("sigmoid", "float32", "bfloat16")
    # a logit of 6 in bfloat16 gives a probability of 0.9975 in float32, not bfloat16's 1.0
    probability = last(tf.constant([[6.0]], tf.bfloat16)).numpy()
    assert probability.dtype == np.float32 and 0.997 < probability[0, 0] < 0.998


def test_auto_follows_the_cpus_bfloat16_hardware_in_training_and_prediction(monkeypatch):
    assert not tf.config.list_physical_devices("GPU")
    try:
        for hardware in (False, True):
            monkeypatch.setattr(tfenv, "cpu_has_bf16", lambda: hardware)
            assert configure_devices({"mixed_precision": "auto", "xla": "auto"}) == (hardware, False)
            assert keras.mixed_precision.global_policy().name == ("mixed_bfloat16" if hardware else "float32")
        assert configure_devices({"mixed_precision": False, "xla": False}) == (False, False)
        assert configure_devices({"mixed_precision": True, "xla": False}) == (True, False)
        assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    finally:
        keras.mixed_precision.set_global_policy("float32")
    monkeypatch.undo()  # this machine's own hardware
    assert machine_policy("auto") == ("mixed_bfloat16" if cpu_has_bf16() else "float32")


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


def test_bfloat16_prediction_keeps_the_output_activation_in_float32(tmp_path):
    from snakeseg.inference.predictor import _load_any_size
    from snakeseg.training.models import build_model

    model_cfg = {"arch": "Unet", "backbone": "resnet18", "decoder_filters": [16, 8, 8, 4, 4]}
    build_model(model_cfg, 32, 1).save(tmp_path / "model.h5")
    model, side = _load_any_size(str(tmp_path / "model.h5"), "mixed_bfloat16")
    try:
        dtypes = {layer.name: layer.compute_dtype for layer in model.layers}
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert side == 32 and dtypes["sigmoid"] == "float32" and dtypes["final_conv"] == "bfloat16"
