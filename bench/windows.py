"""Sliding windows of the training patch against larger windows: Dice and time on real images.

    python bench/windows.py /tmp/win main --fold 0 --name dsb2018-train

Reads a work folder where ``snakemake results/models/<exp>/settings.json`` and the fold's model
have run (any config). Predicts the fold's out-of-fold images (``work/merged`` with
``work/raw``) with every image forced through sliding windows (``predict.max_side: 0``), once per
window setting, and once whole (the default path for images up to ``max_side``): mean per-image
foreground Dice against the truth, the mean absolute difference of the probabilities from the
whole-image pass, and the seconds per megapixel. A user feels the windows on images above
``predict.max_side`` (slides), where windows of the patch at overlap 0.5 compute each pixel about
four times. Writes ``bench/results/windows-<name>.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchlib import machine, write_result  # noqa: E402

# (label, predict.max_side, predict.window): whole images first, the baseline of the differences.
SETTINGS = [("whole", 1 << 20, "patch"), ("windows of the patch", 0, "patch"),
            ("windows of 256", 0, 256), ("windows of 512", 0, 512), ("windows of 1024", 0, 1024)]


def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    total = pred.sum() + truth.sum()
    return 2 * float((pred & truth).sum()) / total if total else 1.0


def main() -> None:
    from snakeseg.data.items import iter_items
    from snakeseg.inference.predictor import load_predictor

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root", type=Path, help="the workflow folder (holding work/ and results/)")
    ap.add_argument("experiment")
    ap.add_argument("--fold", type=int, default=0)
    ap.add_argument("--n-folds", type=int, default=3)
    ap.add_argument("--tta", default="none")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--name", default="run")
    args = ap.parse_args()
    settings = json.loads((args.root / "results" / "models" / args.experiment / "settings.json").read_text())
    model = args.root / "results" / "models" / args.experiment / f"fold-{args.fold}" / "model.h5"
    merged = sorted(p for p in (args.root / "work" / "merged").glob("shard-*")
                    if int(p.name.split("-")[1]) % args.n_folds == args.fold)
    raw = [args.root / "work" / "raw" / p.name for p in merged]
    items = list(iter_items([str(p) for p in merged], [str(p) for p in raw],
                            settings["recipe"]["bit_depth"], settings["recipe"].get("channels")))
    megapixels = sum(img.shape[0] * img.shape[1] for _, img, _ in items) / 1e6
    rows, reference = [], None
    for label, max_side, window in SETTINGS:
        cfg = {**settings["predict"], "max_side": max_side, "window": window, "tta": args.tta, "batch_size": 8}
        predictor = load_predictor([str(model)], settings["recipe"], cfg, args.threads)
        predictor.probabilities([items[0][1]])  # traced once, outside the timing
        start = time.perf_counter()
        probs = [predictor.probabilities([img])[0][..., 0] for _, img, _ in items]
        seconds = time.perf_counter() - start
        reference = reference or probs
        row = {"setting": label, "window": window,
               "dice_mean": round(float(np.mean([dice(p >= 0.5, t > 0) for p, (_, _, t) in zip(probs, items)])), 4),
               "probability_difference_from_whole": round(float(np.mean([np.abs(p - r).mean() for p, r in zip(probs, reference)])), 5),
               "seconds_per_megapixel": round(seconds / megapixels, 2)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    base = rows[1]["seconds_per_megapixel"]
    for row in rows:
        row["speed_vs_windows_of_the_patch"] = round(base / row["seconds_per_megapixel"], 2)
    write_result(REPO / "bench" / "results" / f"windows-{args.name}.json",
                 {"images": len(items), "megapixels": round(megapixels, 2), "fold": args.fold, "tta": args.tta,
                  "rows": rows, "machine": machine()})


if __name__ == "__main__":
    main()
