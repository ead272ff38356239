"""Rule compare: the experiments side by side (Dice, IoU, quantized Dice, model sizes)."""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from snakeseg import atomic  # noqa: E402
from snakeseg.evaluation.compare import comparison_row, comparison_table  # noqa: E402
from snakeseg.workflow.cli import logged  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--summaries", nargs="+", required=True, help="results/metrics/<exp>/summary.json (rule metrics)")
ap.add_argument("--quantized", nargs="*", default=[],
                help="results/quantized/<exp>/summary.csv, same order; none with the quantize stage off")
ap.add_argument("--test-summaries", nargs="*", default=[], help="results/test/<exp>/summary.json, same order")
ap.add_argument("--models", required=True, help="{experiment: model block}, as JSON")
ap.add_argument("--out", required=True)
ap.add_argument("--log", required=True)
args = ap.parse_args()

with logged(args.log, "compare") as log:
    models = json.loads(args.models)
    tests = [json.loads(Path(t).read_text()) for t in args.test_summaries] or [None] * len(args.summaries)
    quantized = [pd.read_csv(q) for q in args.quantized] or [None] * len(args.summaries)
    rows = [comparison_row(Path(s).parent.name, models[Path(s).parent.name], json.loads(Path(s).read_text()),
                           q, t) for s, q, t in zip(args.summaries, quantized, tests)]
    table = comparison_table(rows)
    atomic.write_csv(args.out, table)
    log.info("compared %d experiments:\n%s", len(table), table.to_string(index=False))
