"""Model quality on real data: the default recipe against today's resize recipe, trained in one run.

    python bench/quality.py ../shared/data/dsb2018-train/stage1_train.zip
    python bench/quality.py ../shared/data/fuseg-dev --test-size 8

Carves a labelled test split (``--test-size`` images, chosen by a hash of their ids) out of the
input, then runs the workflow once with two experiments on the same folds: ``native`` (the config's
defaults) and ``resize`` (``train.mode: resize``, ``data.normalize: none``, no scaling or gamma,
reduce-on-plateau, 25 epochs with early-stopping patience 6, float32, validated every epoch: the recipe as it was when issue 13 asked
for native-resolution training, pinned so that later changes to the defaults do not move the
baseline). Prints, per experiment, out-of-fold Dice (mean per image and pooled), the fold
ensemble's mean Dice on the test split, and training CPU time (Snakemake's benchmark files), with
the ratios native / resize; for data with instance masks also mAP@0.5:0.95 with and without
splitting touching objects and the object count error; writes ``bench/results/quality-<name>.json``.

Where a GPU is visible (or with ``--train-speed``), also the training images per second of the
default model at the patch size ``train.patch_size: auto`` picks on a GPU for these images, with
mixed precision and XLA each on and off (``bench/train_speed.py``, one process per combination).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pandas as pd

import benchlib

REPO = Path(__file__).resolve().parents[1]
INSTANCE_COLUMNS = ("map", "map_nosplit", "count_error", "count_error_nosplit", "obj_f1")
#: the resize recipe of the config at issue 13 (commit f487459): no scaling, gamma or degradations,
#: reduce-on-plateau, its training length, which the defaults have since outgrown, float32 on a
#: CPU (mixed precision was for GPUs only then), validation at every epoch, no deep supervision
RESIZE_AUGMENT = {"scale": 0, "gamma": 0, "noise": 0, "blur": 0, "low_resolution": 0}
RESIZE_TRAIN = {"mode": "resize", "augment": RESIZE_AUGMENT, "lr_schedule": "plateau",
                "epochs": 25, "early_stopping_patience": 6, "reduce_lr_patience": 4, "mixed_precision": False,
                "validation_every": 1, "deep_supervision": False}
EXPERIMENTS = {"native": {},
               "resize": {"train": RESIZE_TRAIN, "data": {"normalize": "none", "polarity": "keep"}}}


def _held_out(ids: list[str], n: int) -> set[str]:
    return set(sorted(ids, key=lambda i: hashlib.sha256(i.encode()).hexdigest())[:n])


def split_zip(archive: Path, out: Path, n_test: int) -> tuple[Path, Path, int]:
    """DSB2018 layout (one folder per image at the zip's root) -> train.zip and test.zip."""
    with zipfile.ZipFile(archive) as zf:
        names = [n for n in zf.namelist() if not n.endswith("/")]
        ids = sorted({n.split("/")[0] for n in names})
        test = _held_out(ids, n_test)
        paths = {"train": out / "train.zip", "test": out / "test.zip"}
        with zipfile.ZipFile(paths["train"], "w") as tr, zipfile.ZipFile(paths["test"], "w") as te:
            for name in names:
                (te if name.split("/")[0] in test else tr).writestr(name, zf.read(name))
    return paths["train"], paths["test"], len(ids)


def split_folder(folder: Path, out: Path, n_test: int) -> tuple[Path, Path, int]:
    """A paired folder (images/ and labels/ or masks/ whose files pair by stem) -> train/ and test/."""
    subdirs = [d for d in folder.iterdir() if d.is_dir()]
    ids = sorted({f.stem for f in subdirs[0].iterdir() if f.is_file()})
    test = _held_out(ids, n_test)
    for part in ("train", "test"):
        for d in subdirs:
            (out / part / d.name).mkdir(parents=True, exist_ok=True)
    for d in subdirs:
        for f in d.iterdir():
            if f.is_file():
                shutil.copyfile(f, out / ("test" if f.stem in test else "train") / d.name / f.name)
    return out / "train", out / "test", len(ids)


def run_workflow(work: Path, train: Path, test: Path, cores: int, extra: list[str]) -> float:
    config = {"input": str(train), "test_input": str(test), "experiments": EXPERIMENTS}
    (work / "quality.yaml").write_text(json.dumps(config))
    targets = [f"results/{kind}/{exp}/summary.json" for exp in EXPERIMENTS for kind in ("metrics", "test")]
    cmd = [sys.executable, "-m", "snakemake", "--cores", str(cores), "-s", str(REPO / "Snakefile"),
           "--directory", str(work), *targets, "--configfile", str(work / "quality.yaml"), *extra]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t0


def pooled_dice(table: pd.DataFrame) -> float:
    """2 TP / (truth + prediction) over all pixels of all images."""
    tp = (table["precision"].fillna(0) * table["pred_area"]).sum()
    return float(2 * tp / (table["true_area"].sum() + table["pred_area"].sum()))


def figures_of(work: Path, exp: str) -> dict:
    oof = pd.read_csv(work / "results" / "metrics" / exp / "per_image.csv")
    test = pd.read_csv(work / "results" / "test" / exp / "per_image.csv")
    bench = [pd.read_csv(p, sep="\t") for p in sorted((work / "benchmarks" / "train_fold" / exp).glob("fold-*.tsv"))]
    epochs = [len(pd.read_csv(p)) for p in sorted((work / "results" / "models" / exp).glob("fold-*/history.csv"))]
    out = {"oof_dice_mean": round(float(oof["dice"].mean()), 4), "oof_dice_pooled": round(pooled_dice(oof), 4),
           "test_dice_mean": round(float(test["dice"].mean()), 4), "test_dice_pooled": round(pooled_dice(test), 4),
           "train_cpu_s": round(sum(float(b["cpu_time"].iloc[-1]) for b in bench), 1),
           "train_wall_s": round(sum(float(b["s"].iloc[-1]) for b in bench), 1), "epochs_per_fold": epochs,
           "n_oof": len(oof), "n_test": len(test)}
    for column in INSTANCE_COLUMNS:  # data with instance masks
        if column in oof:
            out[f"oof_{column}"] = round(float(oof[column].mean()), 4)
            out[f"test_{column}"] = round(float(test[column].mean()), 4)
    return out


def gpu_visible() -> bool:
    probe = "from snakeseg.tfenv import tf; print(len(tf.config.list_physical_devices('GPU')))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) > 0


def train_speed(work: Path) -> list[dict]:
    """``bench/train_speed.py`` with mixed precision and XLA on and off, at the GPU's auto patch size."""
    sys.path.insert(0, str(REPO))
    from snakeseg.training.recipe import auto_patch_size

    sizes = [s for f in sorted((work / "work" / "tfrecords").glob("shard-*.json"))
             for s in json.loads(f.read_text())["sizes"]]
    patch = auto_patch_size(sizes, "gpu")
    rows = []
    for mixed in (0, 1):
        for xla in (0, 1):
            cmd = [sys.executable, str(REPO / "bench" / "train_speed.py"), "--patch", str(patch),
                   "--mixed", str(mixed), "--xla", str(xla)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", help="a DSB2018-layout zip or a paired folder")
    ap.add_argument("--test-size", type=int, default=60)
    ap.add_argument("--work", help="work folder (default /tmp/snakeseg-quality-<name>); reruns reuse it")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--name", help="result name (default: the input's folder name)")
    ap.add_argument("--train-speed", action="store_true", help="measure training img/s even without a GPU")
    args, snakemake_args = ap.parse_known_args()  # the rest goes to Snakemake (after --)
    args.snakemake_args = [a for a in snakemake_args if a != "--"]
    source = Path(args.input).resolve()
    name = args.name or (source.parent.name if source.is_file() else source.name)
    work = Path(args.work or f"/tmp/snakeseg-quality-{name}")
    split = work / "split"
    if not split.exists():
        (split.parent / "split-tmp").mkdir(parents=True, exist_ok=True)
        (split_zip if source.is_file() else split_folder)(source, split.parent / "split-tmp", args.test_size)
        (split.parent / "split-tmp").rename(split)
    train, test = (split / "train.zip", split / "test.zip") if source.is_file() else (split / "train", split / "test")
    wall = run_workflow(work, train, test, args.cores, args.snakemake_args)
    per_exp = {exp: figures_of(work, exp) for exp in EXPERIMENTS}
    native, resize = per_exp["native"], per_exp["resize"]
    figures = {"test_dice_native": native["test_dice_mean"], "test_dice_resize": resize["test_dice_mean"],
               "oof_dice_native": native["oof_dice_mean"], "oof_dice_resize": resize["oof_dice_mean"],
               "train_cpu_ratio": round(native["train_cpu_s"] / resize["train_cpu_s"], 2)}
    wanted = {"test_dice_native": (">=", 0.92), "oof_dice_native": (">=", 0.90), "train_cpu_ratio": ("<=", 1.5)}
    if "oof_map" in native:
        for split in ("oof", "test"):
            figures |= {f"{split}_map_native": native[f"{split}_map"],
                        f"{split}_map_native_nosplit": native[f"{split}_map_nosplit"],
                        f"{split}_map_resize": resize[f"{split}_map"],
                        f"{split}_count_error_native": native[f"{split}_count_error"]}
            wanted[f"{split}_map_native"] = (">=", 0.50)
    result = {"input": str(source), "experiments": per_exp, "figures": figures, "run_wall_s": round(wall, 1),
              **benchlib.targets(figures, wanted), "machine": benchlib.machine()}
    if args.train_speed or gpu_visible():
        result["train_speed"] = train_speed(work)
    else:
        result["train_speed"] = "no GPU visible: mixed precision and XLA not measured"
    benchlib.write_result(REPO / "bench" / "results" / f"quality-{name}.json", result)
    print(pd.DataFrame(per_exp).T.to_string())
    print(benchlib.headline(figures))


if __name__ == "__main__":
    main()
