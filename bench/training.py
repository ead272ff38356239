"""Benchmark of the training loop: images per second of snakeseg's pipeline + fit against in-memory fit.

Two contestants train the same model (``snakeseg.training.models.build_model``: Unet resnet18,
decoder_filters [128, 64, 32, 16, 16] at 128 px by default) compiled by ``fit_fold``'s ``compile_model``
(Adam, ``make_loss(loss, n_out, 255)``, ``make_metrics(threshold, n_out, 255)``), with the same
batch size and steps per epoch (``max(ceil(n / batch), min_steps_per_epoch)``, as ``fit_fold``):

* ``pipeline``: ``model.fit(make_dataset(files, batch, training=True, augment=..., n_items=n),
  steps_per_epoch=steps)``: TFRecords -> decode -> cache -> shuffle -> repeat -> per pair a
  flip/rotation and the float conversion -> batch -> prefetch, exactly
  ``snakeseg.training.pipeline.make_dataset`` with the default augmentation;
* ``in_memory``: ``model.fit(X, Y, batch_size=batch, shuffle=False)`` on NumPy arrays holding
  ``steps`` batches taken from that same pipeline (so the same pixels, already augmented): the
  input costs nothing beyond Keras' own slicing, the upper bound for any input pipeline.

A warm-up fit of one epoch each (graph tracing, filling the tf.data cache) is left out. Then
single-epoch fits alternate (A B, then B A, ...) for ``--epochs`` epochs each, every epoch timed by
a callback, so load from other jobs falls on both alike. ``throughput_ratio_vs_fit`` is the
median over the adjacent pairs of pipeline img/s / in-memory img/s (target >= 0.9); the two rates
printed are each contestant's median over its epochs. ``cpu_ratio_vs_fit`` is in-memory CPU
seconds per image / pipeline CPU seconds per image (this process, all threads): the extra CPU the
input pipeline costs, which other jobs on the machine hardly disturb.

The TFRecords are written with ``snakeseg.data.tfrecord.TFRecordWriter`` + ``encode_example`` and
the same features as the data stage's ``make_shard`` (id, image PNG, mask PNG, height, width,
n_instances), from ``snakeseg.data.demo.synth_image`` nuclei images (label 1; a 1-pixel ring around one nucleus per
image is 255, ignored); with ``--n-classes`` > 1 nuclei take classes 1..n in turn.

The last line printed holds the headline figures as key=value pairs; the same figures and the
details go to bench/results/training.json.

    .venv/bin/python bench/training.py                       # 64 images, 128 px, batch 8
    .venv/bin/python bench/training.py --n 32 --epochs 3
    .venv/bin/python bench/training.py --augment '{"rotation": 360, "brightness": 0.1}'
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import benchlib  # noqa: E402  (bench/, the script's folder)

from snakeseg.data import demo, tfrecord  # noqa: E402
from snakeseg.data.imageio import encode_png  # noqa: E402
from snakeseg.data.masks import IGNORE  # noqa: E402

TARGETS = {"throughput_ratio_vs_fit": (">=", 0.9)}
GEN_VERSION = 1
DEFAULT_AUGMENT = {"flips": True, "rot90": True}  # config.yaml's train.augment


def ensure_data(root: Path, n: int, size: int, seed: int, n_files: int, n_classes: int) -> list[str]:
    """``n_files`` TFRecord files holding ``n`` synthetic size x size (image, label map) examples."""
    params = {"n": n, "size": size, "seed": seed, "n_files": n_files, "n_classes": n_classes, "version": GEN_VERSION}
    stamp = root / "params.json"
    files = [str(root / f"shard-{k:04d}.tfrec") for k in range(n_files)]
    if stamp.exists() and json.loads(stamp.read_text()) == params and all(map(os.path.exists, files)):
        return files
    root.mkdir(parents=True, exist_ok=True)
    writers = [tfrecord.TFRecordWriter(f) for f in files]
    for w in writers:
        w.__enter__()
    try:
        for i in range(n):
            rng = np.random.default_rng([seed, i])
            rgba, instances = demo.synth_image(rng, size, size)
            labels = np.zeros((size, size), np.uint8)
            for k, inst in enumerate(instances):
                labels[inst > 0] = 1 + k % n_classes
            if instances:  # an unannotated ring around the first nucleus, as merge_masks marks ambiguity
                ring = (cv2.dilate(instances[0], np.ones((3, 3), np.uint8)) > 0) & (labels == 0)
                labels[ring] = IGNORE
            writers[i % n_files].write(tfrecord.encode_example({
                "id": f"{i:05d}",
                "image": encode_png(cv2.cvtColor(rgba, cv2.COLOR_RGBA2RGB)),
                "mask": encode_png(labels, rgb=False),
                "height": size,
                "width": size,
                "n_instances": len(instances),
            }))
    except BaseException as exc:
        for w in writers:
            w.__exit__(type(exc), exc, exc.__traceback__)
        raise
    for w in writers:
        w.__exit__(None, None, None)
    stamp.write_text(json.dumps(params))
    return files


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", default="Unet", help="model.arch (default Unet)")
    ap.add_argument("--backbone", default="resnet18", help="model.backbone for segmentation-models archs")
    ap.add_argument("--decoder-filters", default="128,64,32,16,16", help="Unet decoder filters (comma-separated)")
    ap.add_argument("--size", type=int, default=128, help="image side (default 128)")
    ap.add_argument("--n", type=int, default=64, help="training images (default 64)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--min-steps", type=int, default=12, help="train.min_steps_per_epoch (default 12)")
    ap.add_argument("--epochs", type=int, default=8,
                    help="timed epochs of each contestant, alternating, after one warm-up epoch each (default 8)")
    ap.add_argument("--n-classes", type=int, default=1, help="1: binary sigmoid (dice_focal); >1: softmax (cce_ignore)")
    ap.add_argument("--augment", default=None, help="train.augment as JSON (default: the config default)")
    ap.add_argument("--threads", type=int, default=0, help="TF threads as train.threads (0: TensorFlow's default)")
    ap.add_argument("--n-files", type=int, default=2, help="TFRecord files (default 2)")
    ap.add_argument("--learning-rate", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--data-dir", default="/tmp/snakeseg-bench/training", help="cached generated TFRecords")
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "training.json"))
    args = ap.parse_args()

    t_start = time.perf_counter()
    root = Path(args.data_dir) / f"n{args.n}-s{args.size}-c{args.n_classes}-seed{args.seed}-f{args.n_files}"
    files = ensure_data(root, args.n, args.size, args.seed, args.n_files, args.n_classes)
    print(f"training bench: {args.arch} {args.backbone} n={args.n} size={args.size} batch={args.batch_size} "
          f"data in {root} ({time.perf_counter() - t_start:.1f} s)", flush=True)

    from snakeseg.tfenv import configure, keras, tf
    from snakeseg.training import augment as augmentation
    from snakeseg.training.fit import compile_model
    from snakeseg.training.models import build_model
    from snakeseg.training.pipeline import make_dataset, n_outputs

    if args.threads > 0:
        configure(args.threads, args.seed)
    augment = json.loads(args.augment) if args.augment else dict(DEFAULT_AUGMENT)

    batch = args.batch_size
    steps = max(math.ceil(args.n / batch), args.min_steps)
    n_out = n_outputs(args.n_classes)
    loss_name = "dice_focal" if n_out == 1 else "cce_ignore"
    model_cfg = {"arch": args.arch, "backbone": args.backbone,
                 "decoder_filters": [int(x) for x in args.decoder_filters.split(",")]}

    def dataset():
        return make_dataset(files, batch, True, augment, args.n, args.seed)

    def new_model():
        keras.utils.set_random_seed(args.seed)
        model = build_model(model_cfg, args.size, n_out)
        compile_model(model, {"optimizer": "adam", "learning_rate": args.learning_rate, "loss": loss_name,
                              "threshold": 0.5}, n_out, xla=False)
        return model

    # The in-memory data: the first `steps` batches the pipeline delivers, as NumPy arrays.
    t0 = time.perf_counter()
    it = iter(dataset())
    held = [next(it) for _ in range(steps)]
    X = np.concatenate([b[0].numpy() for b in held])
    Y = np.concatenate([b[1].numpy() for b in held])
    del it, held
    # The pipeline alone (no model): its steady-state batches/s, to show its headroom.
    it = iter(dataset())
    for _ in range(steps + 2):
        next(it)
    p0 = time.perf_counter()
    for _ in range(3 * steps):
        next(it)
    pipeline_only = 3 * steps * batch / (time.perf_counter() - p0)
    del it
    print(f"held {X.shape[0]} images in memory ({X.nbytes / 2**20:.0f} MiB images), pipeline alone "
          f"{pipeline_only:.0f} img/s ({time.perf_counter() - t0:.1f} s)", flush=True)

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds, self.cpu = [], []

        def on_epoch_begin(self, epoch, logs=None):
            self._t, self._c = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._t)
            self.cpu.append(time.process_time() - self._c)

    t0 = time.perf_counter()
    models = {"pipeline": new_model(), "in_memory": new_model()}
    print(f"models built ({models['pipeline'].count_params():,} parameters, {time.perf_counter() - t0:.1f} s)",
          flush=True)

    def run(name: str, epochs: int) -> list[tuple[float, float]]:
        """One fit of ``epochs`` epochs as fit_fold makes it; (seconds, CPU seconds) per epoch."""
        timer = EpochTimer()
        model = models[name]
        if name == "pipeline":
            model.fit(datasets[name], steps_per_epoch=steps, epochs=epochs, callbacks=[timer], verbose=0)
        else:
            model.fit(X, Y, batch_size=batch, epochs=epochs, shuffle=False, callbacks=[timer], verbose=0)
        return list(zip(timer.seconds, timer.cpu))

    # Warm-up (excluded): one fit each traces the train step and fills make_dataset's cache.
    datasets = {"pipeline": dataset()}
    warmup = {}
    for name in ("pipeline", "in_memory"):
        t0 = time.perf_counter()
        run(name, 1)
        warmup[name] = round(time.perf_counter() - t0, 2)
        print(f"warm-up {name}: {warmup[name]:.1f} s", flush=True)

    # Timed: single-epoch fits, alternating A B, B A, ... so both see the same load.
    epochs: dict[str, list[dict]] = {"pipeline": [], "in_memory": []}
    paired = []
    for r in range(args.epochs):
        order = ("pipeline", "in_memory") if r % 2 == 0 else ("in_memory", "pipeline")
        for name in order:
            (seconds, cpu), = run(name, 1)
            epochs[name].append({"seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3),
                                 "images_per_s": round(steps * batch / seconds, 2),
                                 "loadavg_1min": round(os.getloadavg()[0], 2)})
        a, b = epochs["pipeline"][-1]["images_per_s"], epochs["in_memory"][-1]["images_per_s"]
        paired.append(a / b)
        print(f"epoch pair {r + 1}/{args.epochs}: pipeline {a:6.1f} img/s, in_memory {b:6.1f} img/s, "
              f"ratio {a / b:.3f} (load {os.getloadavg()[0]:.1f})", flush=True)

    rate = {name: statistics.median(e["images_per_s"] for e in runs) for name, runs in epochs.items()}
    figures = {
        "throughput_ratio_vs_fit": round(statistics.median(paired), 3),
        "pipeline_img_per_s": round(rate["pipeline"], 1),
        "in_memory_img_per_s": round(rate["in_memory"], 1),
    }
    # CPU seconds per image (this process, all threads): what the input pipeline adds on top of training,
    # far less sensitive to other jobs than wall time. in_memory / pipeline, so 1.0 = no extra CPU.
    cpu = {name: statistics.median(e["cpu_seconds"] for e in runs) / (steps * batch) for name, runs in epochs.items()}
    figures["cpu_ratio_vs_fit"] = round(cpu["in_memory"] / cpu["pipeline"], 3)
    result = {
        "figures": figures,
        **benchlib.targets(figures, TARGETS),
        "ratio_per_pair": [round(x, 3) for x in paired],
        "ratio_of_median_rates": round(rate["pipeline"] / rate["in_memory"], 3),
        "cpu_seconds_per_image_median": {name: round(c, 4) for name, c in cpu.items()},
        "warmup_seconds": warmup,
        "pipeline_alone_img_per_s": round(pipeline_only, 1),
        "params": {"arch": args.arch, "backbone": args.backbone, "model": model_cfg, "image_size": args.size,
                   "n_images": args.n, "batch_size": batch, "steps_per_epoch": steps,
                   "images_per_epoch": steps * batch, "timed_epochs_each": args.epochs,
                   "n_classes": args.n_classes, "loss": loss_name, "ignore_value": IGNORE,
                   "augment": augment, "augment_description": augmentation.describe(augment),
                   "tfrecord_files": len(files), "tfrecord_bytes": sum(os.path.getsize(f) for f in files),
                   "parameters": int(models["pipeline"].count_params()), "seed": args.seed, "threads": args.threads},
        "epochs": epochs,
        "notes": "Both contestants: same architecture, compile (Adam, make_loss/make_metrics with ignore_value "
                 "255), batch size and steps per epoch (max(ceil(n/batch), min_steps), as fit_fold). A warm-up "
                 "fit of one epoch each (tracing, tf.data cache fill) is excluded; then single-epoch fits "
                 "alternate (A B, B A, ...), each epoch timed by a callback (on_epoch_begin to on_epoch_end). "
                 "throughput_ratio_vs_fit is the median over the pairs of adjacent epochs of pipeline/in_memory "
                 "(robust to load drifting during the run); the img/s figures are medians over each contestant's "
                 "epochs. The pipeline's dataset object is made once, so later fits read its filled cache of "
                 "decoded pairs (a new iterator per fit refills the shuffle buffer). "
                 "in_memory fits NumPy arrays holding the first steps x batch pairs the pipeline produced "
                 "(augmented once), shuffle=False. pipeline_alone is make_dataset iterated without a model. "
                 "epoch_cpu_seconds are this process's (all threads).",
        "machine": benchlib.machine(tf),
        "seconds_total": round(time.perf_counter() - t_start, 1),
    }
    benchlib.write_result(args.out, result)
    print(benchlib.headline(figures))


if __name__ == "__main__":
    main()
