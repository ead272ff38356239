"""Deployment variants (snakeseg.deploy): int8 calibration from training shards only, a failed
conversion beside working ones, the LiteRT runtime with int8 input/output, the predict.engine switch."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from helpers import snakemake
from snakeseg.data import tfrecord
from snakeseg.deploy import convert, evaluate, tables
from snakeseg.deploy.runtime import TFLiteModel, interpreter_class
from snakeseg.errors import InputError
from snakeseg.evaluation import plots
from snakeseg.evaluation.compare import quantized_columns
from snakeseg.inference.predictor import load_predictor
from snakeseg.training.models import build_model

TINY_UNET = {"arch": "custom_unet", "depth": 2, "base_filters": 4}
PREDICT = {"max_side": 2048, "overlap": 0.5, "tta": "none", "batch_size": 4}
RECIPE = {"mode": "native", "normalize": "zscore", "scale": 1.0, "image_size": 32}


def _shard(path, shard: str, value: int, n: int = 3, size=(48, 40)) -> dict:
    """A shard of ``n`` records whose images are all ``value`` (its index, as make_shards writes it)."""
    image = np.full((*size, 3), value, np.uint8)
    mask = np.zeros(size, np.uint8)
    mask[10:20, 10:20] = 1
    with tfrecord.TFRecordWriter(path) as writer:
        for i in range(n):
            writer.write(tfrecord.encode_example({
                "id": f"{shard}-{i}", "image": cv2.imencode(".png", image)[1].tobytes(),
                "mask": cv2.imencode(".png", mask)[1].tobytes(), "height": size[0], "width": size[1],
                "n_instances": 1}))
    return {"shard": shard, "count": n, "sizes": [list(size)] * n}


def test_calibration_patches_come_from_training_shards_only(tmp_path):
    values = {"0000": 40, "0001": 90, "0002": 160, "0003": 220}
    files, indexes = [], []
    for shard, value in values.items():
        files.append(str(tmp_path / f"shard-{shard}.tfrec"))
        indexes.append(_shard(files[-1], shard, value))
    val = {"0001", "0003"}
    recipe = {**RECIPE, "normalize": "none", "patch_size": 32}
    patches = list(convert.calibration_patches(files, indexes, val, recipe, n=10, seed=3))
    assert len(patches) == 10 and all(p.shape == (32, 32, 3) and p.dtype == np.float32 for p in patches)
    seen = {int(round(float(p.mean()) * 255)) for p in patches}
    assert all(np.ptp(p) == 0 for p in patches)  # each patch is one record's constant image
    assert seen <= {40, 160} and seen == {40, 160}  # 10 patches from 6 training records: both shards
    # More patches than training records: each record gives several, still never a validation one.
    many = list(convert.calibration_patches(files, indexes, val, {**recipe, "mode": "resize"}, n=14))
    assert len(many) == 14 and {int(round(float(p.mean()) * 255)) for p in many} == {40, 160}
    with pytest.raises(InputError, match="no training records"):
        list(convert.calibration_patches(files, indexes, set(values), recipe, n=2))


def _patches(n=6, side=32):
    rng = np.random.default_rng(0)
    return lambda: (rng.normal(size=(side, side, 3)).astype(np.float32) for _ in range(n))


def test_a_variant_failing_to_convert_does_not_stop_the_others(monkeypatch):
    model = build_model(TINY_UNET, 32, 1)
    real = convert.convert_variant

    def float16_unsupported(model, variant, *args, **kwargs):
        if variant == "float16":
            raise RuntimeError("loc(fused['Foo']): error: 'tf.Foo' op is neither a custom op nor a flex op\n"
                               "<unknown>:0: note: see current operation")
        return real(model, variant, *args, **kwargs)

    monkeypatch.setattr(convert, "convert_variant", float16_unsupported)
    net, whole = convert.deployable(model)
    done = convert.convert_all(net, list(convert.VARIANTS), _patches(), "float")
    assert whole and [c.variant for c in done] == ["dynamic_range", "float16", "int8"]
    by_name = {c.variant: c for c in done}
    assert by_name["float16"].content is None and "neither a custom op" in by_name["float16"].error
    assert by_name["dynamic_range"].content and by_name["int8"].content and not by_name["int8"].error

    # The fold's tables keep the failed variant's row, with the reason, beside the others.
    runners = {tables.KERAS: lambda x: net(x, training=False).numpy()}
    runners.update({c.variant: TFLiteModel(c.content).predict for c in done if c.content})
    rng = np.random.default_rng(1)
    items = [({"id": f"im{i}"}, rng.integers(0, 255, (40, 36, 3), np.uint8), np.zeros((40, 36), np.uint8))
             for i in range(3)]
    recipe = {**RECIPE, "patch_size": 32, "max_side": 2048, "overlap": 0.5}
    per_image, seconds = evaluate.score_models(runners, items, recipe, whole, 0.5, ["fg"], fold=0, batch_size=2)
    assert list(per_image.columns) == ["fold", "id", "dice_float", "dice_dynamic_range", "dice_int8"]
    variants = evaluate.variant_records(0, done, runners, 100_000, 32, 3, 2, 2, len(per_image), seconds)
    assert list(variants["variant"]) == ["keras", "dynamic_range", "float16", "int8"]
    summary = tables.fold_summary(per_image, variants)
    failed = summary[summary["variant"] == "float16"].iloc[0]
    assert failed["status"] == "failed" and "tf.Foo" in failed["error"] and failed["n_images"] == 0
    ok = summary[summary["status"] == "ok"]
    assert list(ok["variant"]) == ["keras", "dynamic_range", "int8"] and (ok["n_images"] == 3).all()
    assert (ok["images_per_s"] > 0).all() and (ok.loc[ok["variant"] != "keras", "latency_ms_1thread"] > 0).all()
    # The comparison keeps dynamic range under its old names and leaves out what failed.
    columns = quantized_columns(summary)
    assert columns["dice_quantized_mean"] == pytest.approx(ok["dice_mean"].iloc[1])
    assert columns["dice_quantized_change"] == pytest.approx(ok["dice_diff"].iloc[1])
    assert columns["dice_int8_change"] == pytest.approx(ok["dice_diff"].iloc[2])
    assert columns["dice_keras_no_tta_mean"] == pytest.approx(ok["dice_mean"].iloc[0])
    assert np.isnan(columns["dice_float16_mean"]) and columns["tflite_int8_mb"] > 0


def test_int8_runtime_with_int8_io_gives_probabilities():
    model = build_model(TINY_UNET, 32, 1)
    net, _ = convert.deployable(model)
    runtime = TFLiteModel(convert.convert_variant(net, "int8", _patches(), int8_io="int8"), threads=1)
    assert runtime.backend == interpreter_class()[1] == "litert"
    assert runtime.input_dtype == np.int8 and runtime.whole
    x = np.random.default_rng(2).normal(size=(2, 64, 96, 3)).astype(np.float32)  # resized to the input
    out = runtime.predict(x)
    assert out.shape == (2, 64, 96, 1) and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1
    assert np.abs(out - net(x, training=False).numpy()).mean() < 0.05


def test_engine_switch_segments_with_a_tflite_variant(tmp_path):
    model = build_model(TINY_UNET, 32, 1)
    h5 = tmp_path / "model.h5"
    model.save(h5)
    net, _ = convert.deployable(model)
    fold = tmp_path / "fold-0"
    fold.mkdir()
    (fold / "model_int8.tflite").write_bytes(convert.convert_variant(net, "int8", _patches()))
    pd.DataFrame([{"variant": v, "side": 32, "error": ""} for v in ("keras", "int8")]).to_csv(fold / "variants.csv")
    images = [np.random.default_rng(i).integers(0, 255, (40 + 8 * i, 56, 3), np.uint8) for i in range(2)]
    keras = load_predictor([str(h5)], RECIPE, {**PREDICT, "engine": "keras"}, 0).probabilities(images)
    int8 = load_predictor([str(fold)], RECIPE, {**PREDICT, "engine": "int8"}, 1)
    assert int8.recipe["patch_size"] == 32 and int8.whole_images
    probs = int8.probabilities(images)
    for p, k, image in zip(probs, keras, images):
        assert p.shape == (*image.shape[:2], 1) and np.abs(p - k).mean() < 0.05
    with pytest.raises(InputError, match="float16 model: not among the converted variants"):
        load_predictor([str(fold)], RECIPE, {**PREDICT, "engine": "float16"}, 1)


def test_engine_not_among_the_variants_stops_the_workflow_at_start(tmp_path):
    cfg = tmp_path / "engine.yaml"
    cfg.write_text("predict: {engine: int8}\nquantize: {variants: [dynamic_range, float16]}\n")
    proc = snakemake(tmp_path, "-n", check=False, configfile=cfg)
    assert proc.returncode != 0
    err = proc.stdout + proc.stderr
    assert "predict.engine is int8" in err and "quantize.variants (dynamic_range, float16)" in err
    # An engine among the variants: new images are segmented from the folds' quantize folders.
    (tmp_path / "new").mkdir()
    for i in range(2):
        cv2.imwrite(str(tmp_path / "new" / f"n{i}.png"), np.full((40, 40, 3), 60 * i, np.uint8))
    cfg.write_text(f"predict: {{engine: float16}}\nquantize: {{variants: [dynamic_range, float16]}}\n"
                   f"predict_input: {tmp_path / 'new'}\n")
    out = snakemake(tmp_path, "-n", configfile=cfg).stdout
    jobs = [block for block in out.split("\n\n") if "rule predict_new:" in block]
    assert jobs and all("results/quantized/main/fold-0, results/quantized/main/fold-1" in job for job in jobs)


def test_quantization_plot_shows_failed_variants(tmp_path):
    rows = []
    for fold in (0, 1):
        rows.append({"fold": fold, "variant": "keras", "status": "ok", "bytes": 4e6, "size_ratio": 1, "n_images": 5,
                     "dice_mean": 0.8, "dice_diff": 0, "dice_max_abs_diff": 0, "latency_ms_1thread": np.nan,
                     "latency_ms_nthreads": 20, "threads": 2, "images_per_s": 10, "error": ""})
        rows.append({**rows[-1], "variant": "int8", "bytes": 1e6, "size_ratio": 0.25, "dice_mean": 0.79,
                     "dice_diff": -0.01, "dice_max_abs_diff": 0.03, "latency_ms_1thread": 9, "latency_ms_nthreads": 6,
                     "images_per_s": 31})
        rows.append({**rows[0], "variant": "float16", "status": "failed", "bytes": np.nan, "n_images": 0,
                     "error": "ConverterError: op not supported"})
    path = tmp_path / "q.png"
    plots.quantization(pd.DataFrame(rows).assign(experiment="main"), str(path))
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert quantized_columns(pd.DataFrame(rows))["tflite_int8_mb"] == 1.0
