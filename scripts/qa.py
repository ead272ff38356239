"""Rule qa: the dataset QA table, the table of what was set aside, and their summary."""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from snakeseg import atomic  # noqa: E402
from snakeseg.data.items import read_index  # noqa: E402
from snakeseg.evaluation.qa import tables  # noqa: E402
from snakeseg.workflow.cli import logged  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--merged", nargs="+", required=True, help="every merged shard (rule merge_masks)")
ap.add_argument("--unassigned", required=True, help="the input's files that belong to no image (rule unassigned)")
ap.add_argument("--dataset", required=True)
ap.add_argument("--rejected", required=True)
ap.add_argument("--summary", required=True)
ap.add_argument("--log", required=True)
args = ap.parse_args()

with logged(args.log, "qa") as log:
    dataset, rejected, summary = tables([read_index(d) for d in args.merged], json.loads(Path(args.unassigned).read_text()))
    atomic.write_csv(args.dataset, dataset)
    atomic.write_csv(args.rejected, rejected)
    atomic.write_json(args.summary, summary)
    log.info("%d usable images, %d set aside, %d files ignored", summary["n_images"], summary["n_set_aside"],
             summary["n_files_ignored"])
    for row in rejected.itertuples():
        log.warning("set aside %s: %s", row.id or row.files, row.reason)
