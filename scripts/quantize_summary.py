"""Rule quantize_summary: file sizes and mean Dice of float and quantized models, per fold."""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from snakeseg import atomic  # noqa: E402
from snakeseg.deploy.tables import fold_summary  # noqa: E402
from snakeseg.workflow.cli import logged  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--models", nargs="+", required=True, help="each fold's model.h5, fold order")
ap.add_argument("--tflite", nargs="+", required=True, help="each fold's TFLite model, fold order")
ap.add_argument("--per-image", nargs="+", required=True, help="each fold's per-image Dice (rule quantize)")
ap.add_argument("--summary", required=True)
ap.add_argument("--all-images", required=True, help="the folds' per-image tables in one")
ap.add_argument("--log", required=True)
args = ap.parse_args()

with logged(args.log, "quantize_summary") as log:
    per_image = pd.concat([pd.read_csv(p) for p in args.per_image], ignore_index=True)
    summary = fold_summary(per_image, args.models, args.tflite)
    atomic.write_csv(args.summary, summary)
    atomic.write_csv(args.all_images, per_image)
    log.info("quantization summary over %d folds", len(summary))
