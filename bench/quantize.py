"""TFLite variants against their Keras model: images per second, file size and Dice lost, in one run.

    .venv/bin/python bench/quantize.py [--images 24] [--train-steps 60] [--threads 2]

Two models, built as the workflow builds them (``snakeseg.training.models.build_model``, random
initialisation, then ``--train-steps`` Adam steps of Dice + focal loss on synthetic nuclei images
so that their output is a segmentation rather than noise around 0.5): the default model (Unet
resnet18, the config's decoder_filters) at 128 px, and Unet with a MobileNetV2 encoder at 256 px.
Each is converted to every variant (``snakeseg.deploy.convert``: dynamic range, float16, int8
calibrated on 100 patches of other synthetic images) and run through the workflow's prediction
path (``Predictor``, whole images, no TTA; LiteRT for the variants) on ``--images`` new synthetic
images of the model's side, at ``--threads`` threads for Keras and for LiteRT. Speeds are best of 3
passes after a warm-up, every model timed in turn in each pass. Dice loss: 1 - mean Dice of the
variant's thresholded mask against the Keras model's own thresholded mask. Sizes are relative to the
Keras HDF5 file (no optimizer state), as results/quantized/<exp>/summary.csv gives them.
Writes bench/results/quantize.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

import benchlib

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CASES = {"r18": ({"backbone": "resnet18"}, 128), "mnv2": ({"backbone": "mobilenetv2"}, 256)}
TARGETS = {"int8_speedup": (">=", 3.0), "int8_size_ratio": ("<=", 0.27), "int8_dice_loss": ("<=", 0.01),
           "float16_dice_loss": ("<=", 0.001)}


def synthetic(n: int, side: int, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    """``n`` RGB nuclei images of ``side`` pixels and their foreground masks."""
    from snakeseg.data.demo import synth_image

    rng = np.random.default_rng(seed)
    images, masks = [], []
    for _ in range(n):
        rgba, instances = synth_image(rng, side, side)
        images.append(np.ascontiguousarray(rgba[..., :3]))
        masks.append(np.max(instances, axis=0) > 0 if instances else np.zeros((side, side), bool))
    return images, np.stack(masks)


def trained(model_cfg: dict, side: int, steps: int, seed: int):
    """The model after ``steps`` Adam steps (batch 8) on synthetic images, as the workflow normalises them."""
    from snakeseg.data.normalize import normalize
    from snakeseg.tfenv import keras
    from snakeseg.training.models import build_model, make_loss

    model = build_model(model_cfg, side, 1)
    if steps:
        images, masks = synthetic(32, side, seed)
        x = np.stack([normalize(img, "zscore") for img in images])
        model.compile(keras.optimizers.Adam(1e-3), make_loss("dice_focal", 1))
        model.fit(x, masks[..., None].astype(np.float32), batch_size=8, epochs=-(-steps * 8 // len(x)), verbose=0)
    return model


def dice(a: np.ndarray, b: np.ndarray) -> float:
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else float(2 * (a & b).sum() / total)


def measure(name: str, model_cfg: dict, side: int, args) -> dict:
    from snakeseg.data.normalize import normalize
    from snakeseg.deploy import convert, latency
    from snakeseg.deploy.runtime import TFLiteModel
    from snakeseg.inference.predictor import Predictor, traced

    t0 = time.perf_counter()
    model = trained(model_cfg, side, args.train_steps, seed=1)
    train_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        h5 = Path(tmp) / "model.h5"
        model.save(h5, include_optimizer=False)
        h5_bytes = h5.stat().st_size
    network, whole = convert.deployable(model)
    calib_images, _ = synthetic(100, side, seed=2)
    calibration = lambda: (normalize(img, "zscore") for img in calib_images)  # noqa: E731
    conversions = convert.convert_all(network, list(convert.VARIANTS), calibration, "float")
    runners = {"keras": traced([network])[0]}
    runners.update({c.variant: TFLiteModel(c.content, threads=args.threads).predict for c in conversions if c.content})
    recipe = {"mode": "native", "patch_size": side, "normalize": "zscore", "max_side": 4096}
    predictors = {k: Predictor([run], recipe, batch_size=8, whole_images=whole) for k, run in runners.items()}
    images, truth = synthetic(args.images, side, seed=3)
    probs = {k: p.probabilities(images) for k, p in predictors.items()}  # warm-up, and the masks compared
    best = {k: float("inf") for k in predictors}
    for _ in range(3):
        for k, p in predictors.items():
            start = time.perf_counter()
            p.probabilities(images)
            best[k] = min(best[k], time.perf_counter() - start)
    patch = np.random.default_rng(0).normal(size=(1, side, side, 3)).astype(np.float32)
    masks = {k: np.stack([q[..., 0] >= 0.5 for q in v]) for k, v in probs.items()}
    out = {"side": side, "model": model_cfg, "train_seconds": round(train_s, 1), "keras_h5_bytes": h5_bytes,
           "keras_img_s": round(args.images / best["keras"], 2),
           "keras_latency_ms": round(latency.median_latency(runners["keras"], patch, 10) * 1000, 2),
           "keras_dice_vs_truth": round(float(np.mean([dice(m, t) for m, t in zip(masks["keras"], truth)])), 4),
           "variants": {}}
    for c in conversions:
        if c.content is None:
            out["variants"][c.variant] = {"error": c.error}
            continue
        v = c.variant
        out["variants"][v] = {
            "bytes": len(c.content), "size_ratio": round(len(c.content) / h5_bytes, 4),
            "img_s": round(args.images / best[v], 2), "speedup": round(best["keras"] / best[v], 2),
            "latency_ms_1thread": round(latency.median_latency(TFLiteModel(c.content, 1).predict, patch, 10) * 1000, 2),
            "latency_ms": round(latency.median_latency(runners[v], patch, 10) * 1000, 2),
            "dice_loss": round(1 - float(np.mean([dice(m, k) for m, k in zip(masks[v], masks["keras"])])), 5),
            "max_abs_prob_diff": round(float(max(np.abs(a - b).max() for a, b in zip(probs[v], probs["keras"]))), 4),
            "convert_seconds": round(c.seconds, 1)}
    print(name, out, flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--train-steps", type=int, default=60)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    args = ap.parse_args()
    from snakeseg import tfenv

    tfenv.configure(args.threads, 0)
    base = yaml.safe_load((REPO / "config.yaml").read_text())["model"]
    results = {name: measure(name, {**base, **CASES[name][0]}, CASES[name][1], args) for name in args.cases}
    figures, wanted = {}, {}
    for name, r in results.items():
        for v in ("dynamic_range", "float16", "int8"):
            if "error" in r["variants"][v]:
                continue
            short = {"dynamic_range": "dr", "float16": "f16", "int8": "int8"}[v]
            figures[f"{name}_{short}_speedup"] = r["variants"][v]["speedup"]
            figures[f"{name}_{short}_size_ratio"] = r["variants"][v]["size_ratio"]
            figures[f"{name}_{short}_dice_loss"] = r["variants"][v]["dice_loss"]
        for key, target in TARGETS.items():
            variant, figure = key.split("_", 1)
            short = {"int8": "int8", "float16": "f16"}[variant]
            if f"{name}_{short}_{figure}" in figures:
                wanted[f"{name}_{short}_{figure}"] = target
    result = {"figures": figures, "details": results, **benchlib.targets(figures, wanted),
              "machine": benchlib.machine(tfenv.tf)}
    benchlib.write_result(REPO / "bench" / "results" / "quantize.json", result)
    print(benchlib.headline(figures))


if __name__ == "__main__":
    main()
