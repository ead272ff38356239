"""Rule quantize_summary: size, Dice and speed of the float model and each TFLite variant, per fold."""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from snakeseg import atomic  # noqa: E402
from snakeseg.deploy.tables import fold_summary  # noqa: E402
from snakeseg.tables import read_table  # noqa: E402
from snakeseg.workflow.cli import logged  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--folds", nargs="+", required=True, help="each fold's quantize folder (rule quantize)")
ap.add_argument("--summary", required=True)
ap.add_argument("--all-images", required=True, help="the folds' per-image tables in one")
ap.add_argument("--log", required=True)
args = ap.parse_args()

with logged(args.log, "quantize_summary") as log:
    stale = [p for p in args.folds if not (Path(p) / "variants.csv").is_file()]
    if stale:
        raise SystemExit(f"{', '.join(stale)}: made by an earlier snakeseg (no variants.csv); rerun its "
                         "quantize jobs with `snakemake -R quantize`, or delete the folder(s) and run again")
    per_image = pd.concat([read_table(Path(p) / "per_image.csv") for p in args.folds], ignore_index=True)
    variants = pd.concat([pd.read_csv(Path(p) / "variants.csv", keep_default_na=False, na_values=[""])
                          for p in args.folds], ignore_index=True)
    summary = fold_summary(per_image, variants)
    atomic.write_csv(args.summary, summary)
    atomic.write_csv(args.all_images, per_image)
    failed = summary[summary["status"] != "ok"]
    log.info("quantization summary over %d folds, %d variant(s) failed to convert", summary["fold"].nunique(),
             len(failed))
