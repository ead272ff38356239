"""Rule make_shards: write one shard's TFRecord and its index."""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from snakeseg.data.records import make_shard  # noqa: E402
from snakeseg.workflow.cli import logged  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--merged", required=True, help="the shard's label maps and index (rule merge_masks)")
ap.add_argument("--raw", required=True, help="the shard's staged files (rule unzip)")
ap.add_argument("--tfrecord", required=True)
ap.add_argument("--index", required=True)
ap.add_argument("--scale", type=float, default=1.0, help="data.scale: rescale every pair by this factor first")
ap.add_argument("--max-tile", type=int, default=2048, help="data.max_tile: cut larger images into tiles")
ap.add_argument("--bit-depth", default="auto", help="data.bit_depth: how 16-bit images become 8-bit (auto or 9..16)")
ap.add_argument("--channels", default="null", help="data.channels: the image channels to read, as JSON (null: grey or RGB)")
ap.add_argument("--log", required=True)
args = ap.parse_args()

with logged(args.log, "make_shards") as log:
    summary = make_shard(args.merged, args.raw, args.tfrecord, args.index, args.scale, args.max_tile, args.bit_depth,
                         json.loads(args.channels))
    log.info("shard %s: %d records of %d images (scale %g, tiles of at most %d px)", summary["shard"],
             summary["count"], summary["images"], args.scale, args.max_tile)
