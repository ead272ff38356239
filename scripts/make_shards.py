"""Rule make_shards: write one shard's TFRecord and its index.

Run by the rule as a command (see scripts/unzip.py):

    python scripts/make_shards.py --merged DIR --tfrecord FILE --index FILE --image-size N --log LOG
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from snakeseg import dataprep  # noqa: E402
from snakeseg.cli import logged  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("--merged", required=True, help="the shard's label maps and index (rule merge_masks)")
ap.add_argument("--tfrecord", required=True)
ap.add_argument("--index", required=True)
ap.add_argument("--image-size", type=int, required=True)
ap.add_argument("--log", required=True)
args = ap.parse_args()

with logged(args.log, "make_shards") as log:
    summary = dataprep.make_shard(args.merged, args.tfrecord, args.index, args.image_size)
    log.info("shard %s: %d examples at %d px", summary["shard"], summary["count"], summary["image_size"])
