"""Rule report: the report's plots."""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from snakeseg.evaluation import gallery, plots  # noqa: E402
from snakeseg.tables import read_table  # noqa: E402
from snakeseg.workflow.cli import logged  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--histories", nargs="+", required=True, help="results/models/<exp>/fold-<k>/history.csv")
ap.add_argument("--per-image", nargs="+", required=True, help="results/metrics/<exp>/per_image.csv")
ap.add_argument("--quantized", nargs="*", default=[],
                help="results/quantized/<exp>/summary.csv; none with the quantize stage off")
ap.add_argument("--comparison", required=True)
ap.add_argument("--qa-dataset", required=True)
ap.add_argument("--qa-summary", required=True)
ap.add_argument("--predictions", nargs="+", required=True, help="results/predictions/<exp>/fold-<k> (rule predict)")
ap.add_argument("--gallery", type=int, default=4, help="lowest- and highest-Dice images shown per experiment")
ap.add_argument("--log", required=True)
for name in ("curves", "dice", "comparison-plot", "quant", "qa", "gallery-plot", "counts"):
    ap.add_argument(f"--{name}", required=True, help="output PNG")
args = ap.parse_args()


def with_experiment(paths):
    """One frame from per-experiment CSVs (results/<kind>/<exp>/per_image.csv), ids as written."""
    return pd.concat([read_table(p).assign(experiment=Path(p).parent.name) for p in paths],
                     ignore_index=True)


with logged(args.log, "report"):
    histories = {(Path(p).parent.parent.name, Path(p).parent.name.split("-", 1)[1]): pd.read_csv(p)
                 for p in args.histories}
    plots.training_curves(histories, args.curves)
    plots.dice_histogram(with_experiment(args.per_image), args.dice)
    plots.comparison(with_experiment(args.per_image), pd.read_csv(args.comparison), args.comparison_plot)
    if args.quantized:
        plots.quantization(with_experiment(args.quantized), args.quant)
    else:
        plots.note("Quantization", "quantize stage off (quantize.variants: [] and savedmodel: false)", args.quant)
    plots.qa_summary(read_table(args.qa_dataset), json.loads(Path(args.qa_summary).read_text()), args.qa)
    folders = {(Path(p).parent.name, int(Path(p).name.split("-", 1)[1])): Path(p) for p in args.predictions}
    per_image = with_experiment(args.per_image)
    gallery.gallery({exp: t for exp, t in per_image.groupby("experiment", sort=False)},
                    lambda exp, row: str(folders[(exp, int(row["fold"]))] / "overlays" / f"{row['id']}.png"),
                    args.gallery, args.gallery_plot)
    gallery.object_counts(per_image, args.counts)
