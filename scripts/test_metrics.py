"""Rule test_metrics: per-image table and per-shard/overall summary of the ensemble on the test set, the
test images and files set aside with their reasons, and its masks, overlays, ... of every shard in one
folder each."""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from snakeseg import atomic  # noqa: E402
from snakeseg.data.items import read_index  # noqa: E402
from snakeseg.evaluation.qa import tables  # noqa: E402
from snakeseg.evaluation.metrics import summarize  # noqa: E402
from snakeseg.evaluation.scoring import test_table  # noqa: E402
from snakeseg.inference.collect import collect  # noqa: E402
from snakeseg.workflow.cli import logged  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--merged", nargs="+", required=True, help="the test set's merged shards (rule merge_masks_test)")
ap.add_argument("--predictions", nargs="+", required=True, help="their predictions, same order (rule predict_test)")
ap.add_argument("--classes", required=True, help="foreground class names, as a JSON list")
ap.add_argument("--mean-iou-threshold", type=float, default=0.4, help="probability threshold of the two-class mean IoU")
ap.add_argument("--min-size", type=int, default=0, help="objects under this many pixels removed (instances.min_size)")
ap.add_argument("--engine", default="keras", help="the models that predicted: keras or a TFLite variant (predict.engine)")
ap.add_argument("--unassigned", required=True, help="the test input's files that belong to no image (its plan)")
ap.add_argument("--per-image", required=True)
ap.add_argument("--set-aside", required=True, help="the test images and files set aside, with the reason and fix")
ap.add_argument("--dataset", required=True, help="the test images' QA table (size, mask encoding, stray values)")
ap.add_argument("--summary", required=True)
ap.add_argument("--collect", nargs="+", required=True,
                help="folders to fill with every shard's files of the subfolder of the same name (masks, overlays, ...)")
ap.add_argument("--log", required=True)
args = ap.parse_args()

with logged(args.log, "test_metrics") as log:
    table = test_table(args.merged, args.predictions, json.loads(args.classes), args.mean_iou_threshold, args.min_size)
    atomic.write_csv(args.per_image, table)
    dataset, set_aside, qa = tables([read_index(d) for d in args.merged], json.loads(Path(args.unassigned).read_text()))
    atomic.write_csv(args.set_aside, set_aside)
    atomic.write_csv(args.dataset, dataset)
    summary = {**summarize(table, group="shard"), "engine": args.engine, "n_set_aside": qa["n_set_aside"],
               "n_files_ignored": qa["n_files_ignored"]}
    atomic.write_json(args.summary, summary)
    for row in set_aside.itertuples():
        log.warning("set aside %s: %s", row.id or row.files, row.reason)
    log.info("test set: Dice mean %s median %s over %d images (%s models)", summary["overall"]["dice"]["mean"],
             summary["overall"]["dice"]["median"], len(table), args.engine)
    collect(args.predictions, args.collect)
