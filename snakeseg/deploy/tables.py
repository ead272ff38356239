"""The quantization tables: per image float vs quantized Dice, and per fold sizes and mean Dice."""

from __future__ import annotations

import os

import pandas as pd


def fold_summary(per_image: pd.DataFrame, models: list[str], tflites: list[str]) -> pd.DataFrame:
    """One row per fold (``models[k]``, ``tflites[k]`` are fold k's files): sizes, their ratio, mean
    float and quantized Dice over the fold's out-of-fold images and their largest difference."""
    rows = []
    for fold, (model, tflite) in enumerate(zip(models, tflites)):
        group = per_image[per_image["fold"] == fold]
        keras_bytes, tflite_bytes = os.path.getsize(model), os.path.getsize(tflite)
        rows.append({"fold": fold, "keras_h5_bytes": keras_bytes, "tflite_dynamic_bytes": tflite_bytes,
                     "size_ratio": round(tflite_bytes / keras_bytes, 4), "n_images": len(group),
                     "dice_float_mean": group["dice_float"].mean(),
                     "dice_quantized_mean": group["dice_quantized"].mean(),
                     "dice_max_abs_diff": (group["dice_float"] - group["dice_quantized"]).abs().max()})
    return pd.DataFrame(rows).round(6)
