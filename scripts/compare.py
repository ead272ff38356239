"""Rule compare: the experiments side by side (Dice, IoU, quantized Dice, model sizes)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))
import json  # noqa: E402

import pandas as pd  # noqa: E402

from snakeseg import atomic  # noqa: E402
from snakeseg.cli import logged  # noqa: E402

with logged(snakemake.log[0], "compare") as log:
    rows = []
    for summary_path, quant_path in zip(snakemake.input.summaries, snakemake.input.quantized):
        name = Path(summary_path).parent.name
        summary = json.loads(Path(summary_path).read_text())
        quant = pd.read_csv(quant_path)
        model = snakemake.params.experiments[name]["model"]
        row = {"experiment": name, "arch": model["arch"],
               "backbone": model.get("backbone") if model["arch"] in ("Unet", "FPN", "Linknet", "PSPNet") else "",
               "n_images": summary["overall"]["n_images"]}
        for metric in ("dice", "iou", "precision", "recall"):
            row[f"{metric}_mean"] = summary["overall"][metric]["mean"]
        row["dice_median"] = summary["overall"]["dice"]["median"]
        for fold, stats in summary["per_fold"].items():
            row[f"dice_mean_fold{fold}"] = stats["dice"]["mean"]
        row["dice_quantized_mean"] = float((quant["dice_quantized_mean"] * quant["n_images"]).sum() / quant["n_images"].sum())
        row["keras_h5_mb"] = round(quant["keras_h5_bytes"].mean() / 1e6, 3)
        row["tflite_dynamic_mb"] = round(quant["tflite_dynamic_bytes"].mean() / 1e6, 3)
        rows.append(row)
    table = pd.DataFrame(rows).round(6)
    atomic.write_csv(snakemake.output[0], table)
    log.info("compared %d experiments:\n%s", len(table), table.to_string(index=False))
