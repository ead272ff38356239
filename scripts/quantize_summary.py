"""Rule quantize_summary: file sizes and mean Dice of float and quantized models, per fold."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

import os  # noqa: E402

import pandas as pd  # noqa: E402

from snakeseg import atomic  # noqa: E402
from snakeseg.cli import logged  # noqa: E402

with logged(snakemake.log[0], "quantize_summary") as log:
    per_image = pd.concat([pd.read_csv(p) for p in snakemake.input.per_image], ignore_index=True)
    rows = []
    for fold, (model, tflite) in enumerate(zip(snakemake.input.models, snakemake.input.tflite)):
        group = per_image[per_image["fold"] == fold]
        rows.append({"fold": fold, "keras_h5_bytes": os.path.getsize(model), "tflite_dynamic_bytes": os.path.getsize(tflite),
                     "size_ratio": round(os.path.getsize(tflite) / os.path.getsize(model), 4),
                     "n_images": len(group), "dice_float_mean": group["dice_float"].mean(),
                     "dice_quantized_mean": group["dice_quantized"].mean(),
                     "dice_max_abs_diff": (group["dice_float"] - group["dice_quantized"]).abs().max()})
    atomic.write_csv(snakemake.output.summary, pd.DataFrame(rows).round(6))
    atomic.write_csv(snakemake.output.per_image, per_image)
    log.info("quantization summary over %d folds", len(rows))
