"""16-bit images from a 12-bit camera: how the way they become 8-bit changes model quality.

    python bench/bit_depth.py ../shared/data/dsb2018-dev/stage1_train.zip --work /tmp/b12

Writes the input's images as a 12-bit camera would (each 8-bit value x16 plus 4 random low bits,
the same in every channel, in 16-bit PNGs; masks as they are), then trains and scores the default
recipe (``train.epochs``, default 8) four times on the same test split and folds, one work folder
each: the 8-bit originals (the reference), and the 12-bit files with ``data.bit_depth`` ``16`` (x/257,
how every 16-bit image was read before), ``auto`` (the default) and ``12`` (the camera's). Prints
out-of-fold and test Dice of each; writes ``bench/results/bit-depth-<name>.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

import benchlib
from quality import figures_of, split_zip

REPO = Path(__file__).resolve().parents[1]
RUNS = {"8bit": ("original", "auto"), "12bit_div257": ("12bit", 16), "12bit_auto": ("12bit", "auto"),
        "12bit_depth12": ("12bit", 12)}


def as_12_bit(source: Path, out: Path, seed: int = 0) -> None:
    """A DSB2018-layout zip with its images as 12-bit data in 16-bit PNGs."""
    rng = np.random.default_rng(seed)
    with zipfile.ZipFile(source) as zi, zipfile.ZipFile(out, "w") as zo:
        for name in zi.namelist():
            data = zi.read(name)
            if "/images/" in name and name.endswith(".png"):
                img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
                low = rng.integers(0, 16, img.shape[:2] + (1,), dtype=np.uint16)
                data = cv2.imencode(".png", np.minimum(img.astype(np.uint16) * 16 + low, 4095))[1].tobytes()
            zo.writestr(name, data)


def run(work: Path, source: Path, depth, test_size: int, epochs: int, cores: int) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    train, test, _ = split_zip(source, work, test_size)
    config = {"input": str(train), "test_input": str(test), "experiments": {"native": {}},
              "train": {"epochs": epochs}, "data": {"bit_depth": depth}}
    (work / "q.yaml").write_text(json.dumps(config))
    targets = ["results/metrics/native/summary.json", "results/test/native/summary.json"]
    subprocess.run([sys.executable, "-m", "snakemake", "--cores", str(cores), "-s", str(REPO / "Snakefile"),
                    "--directory", str(work), *targets, "--configfile", str(work / "q.yaml"), "-q"],
                   check=True, stdout=subprocess.DEVNULL)
    return figures_of(work, "native")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", help="a DSB2018-layout zip")
    ap.add_argument("--work", help="folder of the four work folders (default /tmp/snakeseg-bitdepth-<name>)")
    ap.add_argument("--test-size", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args()
    source = Path(args.input).resolve()
    name = source.parent.name
    work = Path(args.work or f"/tmp/snakeseg-bitdepth-{name}")
    work.mkdir(parents=True, exist_ok=True)
    twelve = work / "dev12.zip"
    if not twelve.exists():
        as_12_bit(source, work / "dev12-tmp.zip")
        (work / "dev12-tmp.zip").rename(twelve)
    inputs = {"original": source, "12bit": twelve}
    per_run = {}
    for run_name, (kind, depth) in RUNS.items():
        per_run[run_name] = run(work / run_name, inputs[kind], depth, args.test_size, args.epochs, args.cores)
        print(run_name, per_run[run_name]["oof_dice_mean"], per_run[run_name]["test_dice_mean"], flush=True)
    figures = {f"{split}_dice_{run_name}": per_run[run_name][f"{split}_dice_mean"]
               for run_name in RUNS for split in ("oof", "test")}
    result = {"input": str(source), "runs": per_run, "figures": figures, "machine": benchlib.machine()}
    benchlib.write_result(REPO / "bench" / "results" / f"bit-depth-{name}.json", result)
    print(pd.DataFrame(per_run).T[["oof_dice_mean", "oof_dice_pooled", "test_dice_mean", "test_dice_pooled",
                                   "train_cpu_s"]].to_string())


if __name__ == "__main__":
    main()
