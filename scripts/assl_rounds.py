"""Rule assl_rounds: one row per active-learning round and the plot over rounds."""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from snakeseg import atomic  # noqa: E402
from snakeseg.assl import rounds  # noqa: E402
from snakeseg.evaluation import plots  # noqa: E402
from snakeseg.workflow.cli import logged  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--records", nargs="+", required=True, help="results/assl/round-N/round.json (rule assl_round)")
ap.add_argument("--responses", nargs="*", default=[], help="the reviewed rounds' response.csv")
ap.add_argument("--table", required=True)
ap.add_argument("--plot", required=True)
ap.add_argument("--log", required=True)
args = ap.parse_args()

with logged(args.log, "assl_rounds") as log:
    table = rounds.rounds_table(rounds.read_records(args.records), args.responses)
    atomic.write_csv(args.table, table)
    plots.assl_rounds(table, args.plot)
    log.info("%d rounds:\n%s", len(table), table.to_string(index=False))
