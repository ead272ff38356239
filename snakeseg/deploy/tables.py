"""Quantization tables: each fold's variants (status, size, speed) and the summary per fold and variant."""

from __future__ import annotations

import math

import pandas as pd

from .convert import VARIANTS

#: The float Keras model's row, the reference of every variant.
KERAS = "keras"
#: variants.csv: what a fold's quantize job measured of each model, Dice aside.
VARIANT_COLUMNS = ["fold", "variant", "status", "file", "bytes", "side", "latency_ms_1thread", "latency_ms_nthreads",
                   "threads", "n_images", "predict_seconds", "images_per_s", "convert_seconds", "error"]
#: summary.csv: one row per fold and model (the Keras reference first, then the variants).
SUMMARY_COLUMNS = ["fold", "variant", "status", "bytes", "size_ratio", "n_images", "dice_mean", "dice_diff",
                   "dice_max_abs_diff", "latency_ms_1thread", "latency_ms_nthreads", "threads", "images_per_s",
                   "error"]


def dice_column(variant: str) -> str:
    """The per-image table's column of a model's Dice: ``dice_float`` for Keras, ``dice_<variant>``."""
    return "dice_float" if variant == KERAS else f"dice_{variant}"


def _order(variant: str) -> int:
    return 0 if variant == KERAS else 1 + (VARIANTS.index(variant) if variant in VARIANTS else len(VARIANTS))


def variant_record(fold: int, variant: str, file: str, size: int | None, error: str, side: int, latency_1: float,
                   latency_n: float, threads: int, n_images: int, predict_seconds: float,
                   convert_seconds: float = float("nan")) -> dict:
    """One row of variants.csv; ``size`` None (and ``error`` the converter's reason) for a variant
    that failed to convert, which has no file, speed or Dice. ``side``: the training side (the
    sliding windows of images above ``predict.max_side``)."""
    ok = size is not None
    ms = lambda s: round(s * 1000, 3) if ok and not math.isnan(s) else float("nan")  # noqa: E731
    return {"fold": fold, "variant": variant, "status": "ok" if ok else "failed", "file": file if ok else "",
            "bytes": size if ok else float("nan"), "side": side, "latency_ms_1thread": ms(latency_1),
            "latency_ms_nthreads": ms(latency_n), "threads": threads, "n_images": n_images if ok else 0,
            "predict_seconds": round(predict_seconds, 3) if ok else float("nan"),
            "images_per_s": round(n_images / predict_seconds, 3) if ok and predict_seconds > 0 else float("nan"),
            "convert_seconds": round(convert_seconds, 2), "error": error}


def variants_table(rows: list[dict]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=VARIANT_COLUMNS)
    return table.sort_values(["fold", "variant"], key=lambda c: c.map(_order) if c.name == "variant" else c,
                             kind="stable", ignore_index=True)


def fold_summary(per_image: pd.DataFrame, variants: pd.DataFrame) -> pd.DataFrame:
    """One row per fold and model from the folds' per-image Dice and variants tables: size and its
    ratio to the Keras model, mean Dice over the fold's out-of-fold images, its difference from the
    Keras model's (variant minus float) and the largest per-image difference, latency and images/s.
    A variant that failed to convert keeps its row, with its status and the converter's reason."""
    rows = []
    for rec in variants_table(variants.to_dict("records")).to_dict("records"):
        fold, variant = rec["fold"], rec["variant"]
        group = per_image[per_image["fold"] == fold]
        keras = variants[(variants["fold"] == fold) & (variants["variant"] == KERAS)]
        keras_bytes = float(keras["bytes"].iloc[0]) if len(keras) else float("nan")
        column = dice_column(variant)
        ok = rec["status"] == "ok" and column in group
        dice = group[column] if ok else pd.Series(dtype=float)
        diff = dice - group["dice_float"] if ok else pd.Series(dtype=float)
        rows.append({**{k: rec[k] for k in ("fold", "variant", "status", "bytes", "latency_ms_1thread",
                                            "latency_ms_nthreads", "threads", "images_per_s", "error")},
                     "size_ratio": rec["bytes"] / keras_bytes if ok else float("nan"),
                     "n_images": int(dice.notna().sum()), "dice_mean": dice.mean(), "dice_diff": diff.mean(),
                     "dice_max_abs_diff": diff.abs().max()})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS).round(6)
