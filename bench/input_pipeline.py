"""Benchmark of the training input pipeline: pairs per second, in steady state.

Three contestants deliver batches of (image, mask) pairs from the same N synthetic 256x256 images:

* ``tfdata_augmented``: ``snakeseg.training.make_dataset(files, batch, training=True,
  augment={"flips": True, "rot90": True}, n_items=N)`` over TFRecords written by
  ``snakeseg.dataprep.make_shard`` (the data stage's own writer). In this default, cached regime
  the decoded uint8 pairs and their transposed copies are held in memory (``training.PairStore``);
  each batch gathers its pairs by shuffled index and flips/rotates and converts them in one
  XLA-compiled pass, rotations reading the transposed copies;
* ``tfdata_parse_only``: the same ``make_dataset`` with every augmentation option off (decoded
  uint8 pairs in memory, indices shuffled, batches gathered and converted to float by the same
  XLA-compiled batch function without transforms);
* ``keras_imagedatagenerator``: the Deepskin notebook's pair of
  ``ImageDataGenerator(rotation_range=360, fill_mode="reflect", horizontal_flip=True,
  vertical_flip=True, rescale=1/255).flow_from_directory(...)`` (images, masks; same seed,
  class_mode=None, target_size 256x256, same batch size), zipped, over the same images written
  as PNG folders;
* ``tfdata_augmented_streaming`` and ``tfdata_parse_only_streaming``: the same two with
  ``cache_decoded=False``, the pipeline of a data set too large for ``train.cache_mb``: the
  serialised records stay in memory and every step decodes its PNGs again.

Two parse-only fractions come out: ``parse_only_fraction`` in the default, cached regime (the
baseline there is a memory copy and a float conversion per pair: no parsing happens after the
pipeline is built) and ``parse_only_fraction_streaming`` (parsing and PNG decoding at every step);
``parse_only_fraction_cpu`` is the cached one in CPU time per pair (parse-only / augmented),
which other load on the machine moves less than pairs per second.

Each contestant is built fresh every round and warmed up for one epoch plus two batches (in the
cached regime the decoded pairs are in memory by then, so the timed batches measure the steady state
of later epochs, where decoding is skipped), then a fixed number of batches is timed (``--epochs``
epochs for the tf.data pipelines, ``--keras-epochs`` for the much slower Keras pair: the figures are
pairs per second, so the counts need not match); the contestants take turns for R rounds and the
best round of each counts. Building the pipeline plus its first epoch (decoding included: the
cached regime decodes every pair into memory when it is built) is reported separately.

The last line printed holds the headline figures as key=value pairs; the same figures and the
details go to bench/results/input_pipeline.json.

    .venv/bin/python bench/input_pipeline.py                 # 400 pairs, batch 8, 20 epochs timed
    .venv/bin/python bench/input_pipeline.py --n 64 --epochs 2 --rounds 1
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import benchlib  # noqa: E402  (bench/, the script's folder)

from snakeseg import atomic, dataprep, demo  # noqa: E402

TARGETS = {"speedup_vs_imagedatagenerator": (">=", 6.0), "parse_only_fraction": (">=", 0.9),
           "parse_only_fraction_streaming": (">=", 0.9)}
GEN_VERSION = 1


def ensure_data(root: Path, n: int, size: int, seed: int, n_files: int) -> dict:
    """PNG folders (for Keras) and TFRecords (for tf.data) of the same n synthetic images."""
    params = {"n": n, "size": size, "seed": seed, "n_files": n_files, "version": GEN_VERSION}
    stamp = root / "params.json"
    if stamp.exists() and json.loads(stamp.read_text()) == params:
        return json.loads((root / "data.json").read_text())
    shutil.rmtree(root, ignore_errors=True)
    images_dir, masks_dir = root / "png" / "images" / "all", root / "png" / "masks" / "all"
    merged = [root / "merged" / f"part-{k}" for k in range(n_files)]
    for d in [images_dir, masks_dir, *merged]:
        d.mkdir(parents=True)
    indexes = [{"shard": f"{k:04d}", "items": [], "set_aside": {}} for k in range(n_files)]
    foreground = 0.0
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        rgba, instances = demo.synth_image(rng, size, size)
        image_id = f"{i:05d}"
        labels = (np.maximum.reduce(instances) > 0).astype(np.uint8)
        foreground += labels.mean()
        rgb_path = images_dir / f"{image_id}.png"
        cv2.imwrite(str(rgb_path), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGR))
        cv2.imwrite(str(masks_dir / f"{image_id}.png"), labels * 255)  # 0/255, as the notebook's masks
        k = i % n_files
        cv2.imwrite(str(merged[k] / f"{image_id}.png"), labels)  # label map 0/1, as merge_masks writes
        indexes[k]["items"].append({"id": image_id, "image": str(rgb_path), "height": size, "width": size,
                                    "n_instances": len(instances)})
    files = []
    for k in range(n_files):
        atomic.write_json(merged[k] / "index.json", indexes[k])
        tfrec = root / "tfrecords" / f"shard-{k:04d}.tfrec"
        tfrec.parent.mkdir(parents=True, exist_ok=True)
        dataprep.make_shard(str(merged[k]), str(tfrec), str(tfrec.with_suffix(".json")), size)
        files.append(str(tfrec))
    data = {"tfrecords": files, "images_dir": str(images_dir.parent), "masks_dir": str(masks_dir.parent),
            "tfrecord_bytes": sum(os.path.getsize(f) for f in files), "mean_foreground": round(foreground / n, 4)}
    (root / "data.json").write_text(json.dumps(data, indent=1))
    stamp.write_text(json.dumps(params))
    return data


# ----------------------------------------------------------------------------------------------
# The contestants: each a factory returning an iterator of (image batch, mask batch)

def tfdata_augmented(files, n, batch, seed, cache_decoded=True):
    from snakeseg.training import make_dataset

    return iter(make_dataset(files, batch, training=True, augment={"flips": True, "rot90": True},
                             n_items=n, seed=seed, cache_decoded=cache_decoded))


def tfdata_parse_only(files, n, batch, seed, cache_decoded=True):
    """The same training pipeline (make_dataset) with every augmentation off: parsing only."""
    from snakeseg import augment
    from snakeseg.training import make_dataset

    off = {key: False if isinstance(value, bool) else 0 for key, value in augment.DEFAULTS.items()}
    return iter(make_dataset(files, batch, training=True, augment=off, n_items=n, seed=seed,
                             cache_decoded=cache_decoded))


def keras_imagedatagenerator(images_dir, masks_dir, size, batch, seed):
    import snakeseg.tfenv  # noqa: F401  (Keras 2 via tf-keras)
    from tf_keras.preprocessing.image import ImageDataGenerator

    args = dict(rotation_range=360, fill_mode="reflect", horizontal_flip=True, vertical_flip=True, rescale=1 / 255)
    flow = dict(target_size=(size, size), class_mode=None, batch_size=batch, seed=seed, shuffle=True)
    images = ImageDataGenerator(**args).flow_from_directory(images_dir, color_mode="rgb", **flow)
    masks = ImageDataGenerator(**args).flow_from_directory(masks_dir, color_mode="grayscale", **flow)
    return zip(images, masks)


def time_batches(it, n_batches: int, batch: int) -> dict:
    t0, c0 = time.perf_counter(), time.process_time()
    pairs = 0
    for _ in range(n_batches):
        images, masks = next(it)
        assert images.shape[0] == masks.shape[0]
        pairs += int(images.shape[0])
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"batches": n_batches, "pairs": pairs, "seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3),
            "pairs_per_s": round(pairs / seconds, 2)}


def check_pair(it, size: int) -> dict:
    """Shapes, ranges and whether masks stayed binary (rotation interpolates Keras' masks)."""
    images, masks = (np.asarray(x) for x in next(it))
    assert images.shape[1:] == (size, size, 3) and masks.shape[1:3] == (size, size), (images.shape, masks.shape)
    return {"image_shape": list(images.shape), "mask_shape": list(masks.shape), "image_dtype": str(images.dtype),
            "image_range": [round(float(images.min()), 3), round(float(images.max()), 3)],
            "mask_values_binary": bool(np.isin(masks, [0.0, 1.0]).all())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=400, help="image/mask pairs (default 400)")
    ap.add_argument("--size", type=int, default=256, help="image side (default 256)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--epochs", type=float, default=20,
                    help="epochs timed per round for the tf.data pipelines, after the warm-up (default 20)")
    ap.add_argument("--keras-epochs", type=float, default=2,
                    help="epochs timed per round for the Keras ImageDataGenerator pair (default 2)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds; the best of each contestant counts (default 3)")
    ap.add_argument("--n-files", type=int, default=4, help="TFRecord files the pairs are spread over (default 4)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--data-dir", default="/tmp/snakeseg-bench/input_pipeline", help="cached generated data")
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "input_pipeline.json"))
    args = ap.parse_args()

    t0 = time.perf_counter()
    root = Path(args.data_dir) / f"n{args.n}-s{args.size}-seed{args.seed}-f{args.n_files}"
    data = ensure_data(root, args.n, args.size, args.seed, args.n_files)
    print(f"input_pipeline: n={args.n} size={args.size} batch={args.batch_size} data in {root} "
          f"({time.perf_counter() - t0:.1f} s)", flush=True)

    from snakeseg.tfenv import tf

    steps_per_epoch = math.ceil(args.n / args.batch_size)
    warmup = steps_per_epoch + 2
    timed = max(1, round(args.epochs * steps_per_epoch))
    timed_keras = max(1, round(args.keras_epochs * steps_per_epoch))
    files = data["tfrecords"]
    factories = {
        "tfdata_augmented": lambda: tfdata_augmented(files, args.n, args.batch_size, args.seed),
        "tfdata_parse_only": lambda: tfdata_parse_only(files, args.n, args.batch_size, args.seed),
        "tfdata_augmented_streaming": lambda: tfdata_augmented(files, args.n, args.batch_size, args.seed, False),
        "tfdata_parse_only_streaming": lambda: tfdata_parse_only(files, args.n, args.batch_size, args.seed, False),
        "keras_imagedatagenerator": lambda: keras_imagedatagenerator(data["images_dir"], data["masks_dir"],
                                                                     args.size, args.batch_size, args.seed),
    }
    rounds: dict[str, list[dict]] = {name: [] for name in factories}
    first_epoch: dict[str, list[dict]] = {name: [] for name in factories}
    checks = {}
    for r in range(args.rounds):
        for name, factory in factories.items():
            t_build = time.perf_counter()
            it = factory()  # a fresh pipeline each round: nothing decoded yet
            build = time.perf_counter() - t_build
            first = time_batches(it, steps_per_epoch, args.batch_size)
            first_epoch[name].append({**first, "build_seconds": round(build, 3),
                                      "pairs_per_s": round(first["pairs"] / (first["seconds"] + build), 2)})
            time_batches(it, warmup - steps_per_epoch, args.batch_size)
            rounds[name].append(time_batches(it, timed_keras if name.startswith("keras") else timed, args.batch_size))
            if r == 0:
                checks[name] = check_pair(it, args.size)
            del it
            print(f"round {r + 1}: {name}: {rounds[name][-1]['pairs_per_s']:.1f} pairs/s steady, "
                  f"{first_epoch[name][-1]['pairs_per_s']:.1f} pairs/s building + first epoch", flush=True)

    best = {name: max(runs, key=lambda x: x["pairs_per_s"]) for name, runs in rounds.items()}
    rate = {name: b["pairs_per_s"] for name, b in best.items()}
    cpu_per_pair = {name: min(r["cpu_seconds"] / r["pairs"] for r in runs) for name, runs in rounds.items()}
    figures = {
        "speedup_vs_imagedatagenerator": round(rate["tfdata_augmented"] / rate["keras_imagedatagenerator"], 2),
        "parse_only_fraction": round(rate["tfdata_augmented"] / rate["tfdata_parse_only"], 3),
        "parse_only_fraction_streaming": round(rate["tfdata_augmented_streaming"]
                                               / rate["tfdata_parse_only_streaming"], 3),
        # CPU time per pair (all threads), lowest round of each: less moved by other load than pairs/s
        "parse_only_fraction_cpu": round(cpu_per_pair["tfdata_parse_only"] / cpu_per_pair["tfdata_augmented"], 3),
        "augmented_pairs_per_s": round(rate["tfdata_augmented"], 1),
        "parse_only_pairs_per_s": round(rate["tfdata_parse_only"], 1),
        "imagedatagenerator_pairs_per_s": round(rate["keras_imagedatagenerator"], 1),
        "n_pairs": args.n,
    }
    first = {name: max(r["pairs_per_s"] for r in runs) for name, runs in first_epoch.items()}
    result = {
        "figures": figures,
        **benchlib.targets(figures, TARGETS),
        "params": {"n_pairs": args.n, "image_size": args.size, "batch_size": args.batch_size,
                   "steps_per_epoch": steps_per_epoch, "warmup_batches": warmup, "timed_batches": timed,
                   "timed_batches_keras": timed_keras, "timed_epochs": round(timed / steps_per_epoch, 2),
                   "rounds": args.rounds, "seed": args.seed,
                   "tfrecord_files": len(files), "tfrecord_bytes": data["tfrecord_bytes"],
                   "mean_foreground": data["mean_foreground"]},
        "steady_state_pairs_per_s_best": rate,
        "steady_state_cpu_us_per_pair_best": {name: round(c * 1e6, 1) for name, c in cpu_per_pair.items()},
        "fraction_of_parse_only": {name: round(r / rate["tfdata_parse_only"], 3) for name, r in rate.items()},
        "fraction_of_parse_only_streaming": {name: round(r / rate["tfdata_parse_only_streaming"], 3)
                                             for name, r in rate.items()},
        "first_epoch_pairs_per_s_best": first,
        "rounds": rounds,
        "first_epoch_rounds": first_epoch,
        "batch_checks": checks,
        "notes": "Steady state: make_dataset holds the decoded uint8 pairs in memory (when they fit "
                 "train.cache_mb; with transposed copies when twice that fits), so after it is built no PNG is "
                 "decoded; each contestant is built fresh every round, warmed up for one epoch + 2 batches and "
                 "then timed over a fixed number of batches (timed_batches; timed_batches_keras for Keras), "
                 "the best of `rounds` interleaved rounds. first_epoch_* include building the pipeline "
                 "(build_seconds). parse_only is make_dataset with every augmentation option off (pairs in "
                 "memory, shuffled indices, gather, convert to float); the *_streaming pair is make_dataset with "
                 "cache_decoded=False (records cached, PNGs decoded at every step), as for data over train.cache_mb. "
                 "Keras' ImageDataGenerator pair is consumed directly in the Python thread, as model.fit(zip(...)) "
                 "does in the notebook (no workers), with arbitrary-angle rotation (scipy affine transform, "
                 "reflect fill) rather than 90-degree rotations. cpu_seconds are this process's (all threads).",
        "machine": benchlib.machine(tf),
        "seconds_total": round(time.perf_counter() - t0, 1),
    }
    benchlib.write_result(args.out, result)
    print(benchlib.headline(figures))


if __name__ == "__main__":
    main()
