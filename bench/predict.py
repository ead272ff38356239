"""Full-resolution prediction: throughput of the whole-image and sliding-window paths against a plain
per-window loop (one window per call, no batching) on the same images, and peak memory on a
synthetic 20,000 x 20,000 image; and an image above ``predict.max_side`` by windows of the
training patch (nnU-Net's, the default) against windows of 1024 (``predict.window: 1024``).

    python bench/predict.py [--images 6] [--side 512] [--large 3072] [--huge 20000]

Throughput uses the default network (Unet resnet18, random weights: speed does not depend on them)
at a 128-px patch on RGB images of ``--side`` pixels; figures in megapixels per second. Peak memory
is traced (tracemalloc, NumPy's allocations) around labelling the huge image by sliding windows
with a per-pixel NumPy model, as a ratio to the image's decoded size. Also the whole-image rate in
bfloat16 against float32 (the model saved and loaded as a prediction job does; bfloat16 is fast only
on CPUs with bfloat16 instructions, ``cpu_bf16_flags`` in the result). Writes bench/results/predict.json.
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import yaml

import benchlib

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def timed(fn, repeat: int = 2) -> float:
    fn()  # warm-up: tracing, allocations
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def setup(n_images: int, side: int, threads: int) -> tuple[dict, list[np.ndarray], float]:
    """TensorFlow on ``threads`` threads; the config's model section, random RGB images, their megapixels."""
    from snakeseg import tfenv

    tfenv.configure(threads, 0)
    model_cfg = yaml.safe_load((REPO / "config.yaml").read_text())["model"]
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (side, side, 3), dtype=np.uint8) for _ in range(n_images)]
    return model_cfg, images, n_images * side * side / 1e6


def throughput(n_images: int, side: int, threads: int) -> dict:
    from snakeseg.inference import windows
    from snakeseg.inference.predictor import Predictor, keras_callables
    from snakeseg.training.models import build_model

    model_cfg, images, megapixels = setup(n_images, side, threads)
    (net,), _, _ = keras_callables([build_model(model_cfg, 128, 1)])  # as a prediction job calls it
    recipe = {"mode": "native", "patch_size": 128, "normalize": "zscore"}
    whole = Predictor([net], recipe, batch_size=8)
    sliding = Predictor([net], {**recipe, "max_side": 64}, batch_size=8)
    plain = lambda: [windows.predict_tiled(net, img.astype(np.float32) / 255, 128, 0.5, batch_size=1)  # noqa: E731
                     for img in images]
    seconds = {"whole": timed(lambda: whole.probabilities(images)),
               "sliding": timed(lambda: sliding.probabilities(images)), "plain_loop": timed(plain)}
    return {k: round(megapixels / v, 3) for k, v in seconds.items()}


def large_image(side: int, threads: int) -> dict:
    """Megapixels/s on one RGB image of ``side`` (above ``predict.max_side``): sliding windows of the
    128-px patch against windows of 1024, both overlapping by half a patch."""
    from snakeseg.inference.predictor import Predictor, keras_callables
    from snakeseg.training.models import build_model

    model_cfg, (image,), megapixels = setup(1, side, threads)
    window = 1024  # predict.window's opt-in for slides; the default is the patch
    (net,), _, _ = keras_callables([build_model(model_cfg, 128, 1)])
    recipe = {"mode": "native", "patch_size": 128, "normalize": "zscore", "max_side": 2048}
    rates = {}
    for name, w in (("patch_windows", "patch"), ("large_windows", window)):
        predictor = Predictor([net], {**recipe, "window": w}, batch_size=8)
        rates[name] = round(megapixels / timed(lambda: predictor.probabilities([image]), repeat=1), 3)
    return {"side": side, "window": window, **rates}


def precision_throughput(n_images: int, side: int, threads: int) -> dict:
    """Whole-image megapixels/s of the default network saved and loaded as a prediction job loads it,
    in float32 and in bfloat16 (what ``predict.mixed_precision: auto`` picks on a bfloat16 CPU)."""
    import tempfile

    from snakeseg.inference.predictor import Predictor, keras_models
    from snakeseg.training.models import build_model

    model_cfg, images, megapixels = setup(n_images, side, threads)
    recipe = {"mode": "native", "patch_size": 128, "normalize": "none"}
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/model.h5"
        build_model(model_cfg, 128, 1).save(path)
        for policy in ("float32", "mixed_bfloat16"):
            nets, _, _ = keras_models([path], policy)
            out[policy] = round(megapixels / timed(lambda: Predictor(nets, recipe, batch_size=8).probabilities(images)), 3)
    return out


def huge_peak(side: int) -> dict:
    from snakeseg.inference.predictor import Predictor

    brightness = lambda x: x.mean(axis=-1, keepdims=True)  # noqa: E731
    window = yaml.safe_load((REPO / "config.yaml").read_text())["predict"]["window"]
    predictor = Predictor([brightness], {"mode": "native", "patch_size": 256, "normalize": "zscore",
                                         "max_side": 2048, "window": window}, batch_size=16)
    tracemalloc.start()
    image = np.full((side, side, 3), 128, np.uint8)
    image[::7, ::5] = 200
    decoded = image.nbytes
    t0 = time.perf_counter()
    labels = predictor.labels([image], 0.5)[0]
    seconds = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert labels.shape == (side, side)
    return {"side": side, "decoded_mb": round(decoded / 1e6), "peak_mb": round(peak / 1e6),
            "peak_over_decoded": round(peak / decoded, 2), "seconds": round(seconds, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=6)
    ap.add_argument("--side", type=int, default=512)
    ap.add_argument("--large", type=int, default=3072)
    ap.add_argument("--huge", type=int, default=20000)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    mps = throughput(args.images, args.side, args.threads)
    precision = precision_throughput(args.images, args.side, args.threads)
    large = large_image(args.large, args.threads)
    peak = huge_peak(args.huge)
    figures = {"whole_mp_s": mps["whole"], "sliding_mp_s": mps["sliding"], "plain_loop_mp_s": mps["plain_loop"],
               "whole_vs_plain": round(mps["whole"] / mps["plain_loop"], 2),
               "sliding_vs_plain": round(mps["sliding"] / mps["plain_loop"], 2),
               "whole_bfloat16_vs_float32": round(precision["mixed_bfloat16"] / precision["float32"], 2),
               "large_windows_vs_patch_windows": round(large["large_windows"] / large["patch_windows"], 2),
               "huge_peak_over_decoded": peak["peak_over_decoded"]}
    result = {"figures": figures, "large": large, "huge": peak, **benchlib.targets(figures, {"huge_peak_over_decoded": ("<=", 3)}),
              "machine": benchlib.machine()}
    benchlib.write_result(REPO / "bench" / "results" / "predict.json", result)
    print(benchlib.headline(figures))


if __name__ == "__main__":
    main()
