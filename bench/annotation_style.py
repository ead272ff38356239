"""Which misses are the annotators' outline, not the model: masks drawn outside the objects' edge.

    python bench/annotation_style.py /tmp/snakeseg-quality-bf bf16ds --name dsb2018-train

Reads a finished ``bench/quality.py`` work folder: each image's truth (``work/merged``,
``work/test/merged``) and the experiment's masks and probabilities (out of fold and on the test
split). An image counts as *drawn outside* when its prediction grown by ``--radius`` pixels scores
at least ``--gain`` more Dice than the prediction itself: its truth outlines every object a few
pixels wider than the model (and the other annotators) do. Prints, per split, how many images are
drawn outside, the mean Dice with and without them and with only their predictions grown (what
learning their outline would give at most), and the model's mean probability on the ring of true
pixels just outside its masks there and elsewhere; writes ``bench/results/annotation-style-<name>.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def dice(a: np.ndarray, b: np.ndarray) -> float:
    total = a.sum() + b.sum()
    return 2 * float((a & b).sum()) / total if total else 1.0


def score(truth: Path, mask: Path, radius: int) -> dict:
    """Dice of one prediction as made and grown by ``radius`` px; the probability on its outer ring."""
    true = cv2.imread(str(truth), cv2.IMREAD_GRAYSCALE) > 0
    pred = cv2.imread(str(mask), cv2.IMREAD_GRAYSCALE) > 0
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    grown = cv2.dilate(pred.astype(np.uint8), disc) > 0
    ring = grown & ~pred & true
    prob_file = mask.parent.parent / "probabilities" / mask.name
    prob = cv2.imread(str(prob_file), cv2.IMREAD_GRAYSCALE) if prob_file.exists() else None
    return {"dice": dice(pred, true), "grown": dice(grown, true),
            "ring_probability": float(prob[ring].mean() / 255) if prob is not None and ring.any() else np.nan}


def split_table(masks: list[Path], merged: Path, radius: int) -> pd.DataFrame:
    truths = {p.stem: p for p in merged.glob("shard-*/*.png") if not p.name.endswith(".instances.png")}
    return pd.DataFrame([{"id": m.stem, **score(truths[m.stem], m, radius)} for m in masks])


def summary(table: pd.DataFrame, gain: float) -> dict:
    outside = table["grown"] >= table["dice"] + gain
    return {
        "images": len(table),
        "drawn_outside": int(outside.sum()),
        "dice_mean": round(table["dice"].mean(), 4),
        "dice_mean_without_them": round(table.loc[~outside, "dice"].mean(), 4),
        "dice_mean_their_masks_grown": round(table["grown"].where(outside, table["dice"]).mean(), 4),
        "dice_mean_all_grown": round(table["grown"].mean(), 4),
        "ring_probability_drawn_outside": round(table.loc[outside, "ring_probability"].mean(), 3),
        "ring_probability_others": round(table.loc[~outside, "ring_probability"].mean(), 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("work", type=Path, help="a bench/quality.py work folder")
    ap.add_argument("experiment")
    ap.add_argument("--radius", type=int, default=2, help="pixels the predictions are grown by")
    ap.add_argument("--gain", type=float, default=0.05, help="Dice gain that marks an image drawn outside")
    ap.add_argument("--name", default=None, help="results file suffix (default: the experiment)")
    args = ap.parse_args()
    results = args.work / "results"
    splits = {
        "out_of_fold": (sorted((results / "predictions" / args.experiment).glob("fold-*/masks/*.png")),
                        args.work / "work" / "merged"),
        "test": (sorted((results / "test" / args.experiment / "shards").glob("shard-*/masks/*.png")),
                 args.work / "work" / "test" / "merged"),
    }
    out = {"experiment": args.experiment, "radius": args.radius, "gain": args.gain}
    for split, (masks, merged) in splits.items():
        if masks:
            out[split] = summary(split_table(masks, merged, args.radius), args.gain)
            print(split, json.dumps(out[split]))
    path = REPO / "bench" / "results" / f"annotation-style-{args.name or args.experiment}.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print("wrote", path)
    keys = ("images", "drawn_outside", "dice_mean", "dice_mean_their_masks_grown")
    print(" ".join(f"{split}_{k}={out[split][k]}" for split in splits if split in out for k in keys))


if __name__ == "__main__":
    main()
