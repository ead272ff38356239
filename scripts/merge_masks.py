"""Rule merge_masks: one label map per image, with the QA record of every decision."""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from snakeseg.data.masks import MaskSpec  # noqa: E402
from snakeseg.data.merge import merge_shard  # noqa: E402
from snakeseg.workflow.cli import logged  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--raw", required=True, help="the shard's staged files (rule unzip)")
ap.add_argument("--out", required=True, help="the shard's folder of label maps and index")
ap.add_argument("--masks", required=True, help="the config's masks section, as JSON")
ap.add_argument("--channels", default="null", help="data.channels: the image channels to read, as JSON (null: grey or RGB)")
ap.add_argument("--log", required=True)
args = ap.parse_args()

with logged(args.log, "merge_masks") as log:
    index = merge_shard(args.raw, args.out, MaskSpec.from_config(json.loads(args.masks)), json.loads(args.channels))
    log.info("shard %s: %d masks merged", index["shard"], len(index["items"]))
    for image_id, entry in index["set_aside"].items():
        log.warning("set aside %s: %s", image_id, entry["reason"])
