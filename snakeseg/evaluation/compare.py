"""The experiments side by side: architecture, mean scores, Dice per fold, quantized Dice, model sizes,
and the fold ensemble's test-set scores when there is a test set."""

from __future__ import annotations

import pandas as pd

#: Architectures built on segmentation-models' encoders, whose ``backbone`` names the encoder.
BACKBONE_ARCHS = ("Unet", "FPN", "Linknet", "PSPNet")
#: Scores shown when the summaries have them: class IoUs, and object scores for instance data.
EXTRA = ("mean_iou_2class", "fw_iou", "map", "map_nosplit", "ap50", "obj_f1", "count_error")


def comparison_row(name: str, model_cfg: dict, summary: dict, quantized: pd.DataFrame | None,
                   test_summary: dict | None = None) -> dict:
    """One experiment's row from its metrics summary, its quantization summary table (none when the
    quantize stage is off) and, with a test set, the ensemble's test summary."""
    row = {"experiment": name, "arch": model_cfg["arch"],
           "backbone": model_cfg.get("backbone") if model_cfg["arch"] in BACKBONE_ARCHS else "",
           "n_images": summary["overall"]["n_images"]}
    for metric in ("dice", "iou", "precision", "recall"):
        row[f"{metric}_mean"] = summary["overall"][metric]["mean"]
    row["dice_median"] = summary["overall"]["dice"]["median"]
    row.update({f"{m}_mean": summary["overall"][m]["mean"] for m in EXTRA if m in summary["overall"]})
    row.update(_class_dice(summary, ""))  # several classes: each one's Dice beside their mean
    for fold, stats in summary["per_fold"].items():
        row[f"dice_mean_fold{fold}"] = stats["dice"]["mean"]
    if quantized is not None:
        row.update(quantized_columns(quantized))
    if test_summary is not None:
        row["test_n_images"] = test_summary["overall"]["n_images"]
        row["test_engine"] = test_summary.get("engine", "keras")  # absent from earlier summaries
        for metric in ("dice", "iou"):
            row[f"test_{metric}_mean"] = test_summary["overall"][metric]["mean"]
        row["test_dice_median"] = test_summary["overall"]["dice"]["median"]
        for metric in ("map", "map_nosplit", "count_error"):
            if metric in test_summary["overall"]:
                row[f"test_{metric}_mean"] = test_summary["overall"][metric]["mean"]
        row.update(_class_dice(test_summary, "test_"))
    return row


def _class_dice(summary: dict, prefix: str) -> dict:
    """``<prefix>dice_<class>_mean`` of each class of a multi-class summary (none for one class)."""
    return {f"{prefix}{key}_mean": value["mean"] for key, value in summary["overall"].items()
            if key.startswith("dice_") and isinstance(value, dict)}


#: Quantization summary rows (snakeseg.deploy.tables) -> comparison columns (mean Dice, Dice change
#: against the Keras model, file size): the dynamic-range variant keeps the names the plot reads.
QUANTIZED_NAMES = {"keras": ("dice_keras_no_tta_mean", None, "keras_h5_mb"),
                   "dynamic_range": ("dice_quantized_mean", "dice_quantized_change", "tflite_dynamic_mb"),
                   "float16": ("dice_float16_mean", "dice_float16_change", "tflite_float16_mb"),
                   "int8": ("dice_int8_mean", "dice_int8_change", "tflite_int8_mb")}


def quantized_columns(quantized: pd.DataFrame) -> dict:
    """Each variant's (and the Keras model's) mean Dice, weighted by the folds' images, without TTA,
    as the quantize job scores; each variant's Dice change against the Keras model (what it costs);
    mean file sizes. NaN for a variant not made, or that failed to convert in any fold."""
    out = {}
    for variant, (dice, change, size) in QUANTIZED_NAMES.items():
        rows = quantized[quantized["variant"] == variant]
        ok = len(rows) > 0 and (rows["status"] == "ok").all()
        weights = rows["n_images"]
        out[dice] = float((rows["dice_mean"] * weights).sum() / weights.sum()) if ok else float("nan")
        if change:
            out[change] = float((rows["dice_diff"] * weights).sum() / weights.sum()) if ok else float("nan")
        out[size] = round(rows["bytes"].mean() / 1e6, 3) if ok else float("nan")
    return out


def comparison_table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows).round(6)
