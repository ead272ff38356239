"""Rule merge_masks: one label map per image, with the QA record of every decision.

Run by the rule as a command (see scripts/unzip.py):

    python scripts/merge_masks.py --raw DIR --out DIR --masks JSON --memo DIR --log LOG
"""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from snakeseg import dataprep  # noqa: E402
from snakeseg.cli import logged  # noqa: E402
from snakeseg.masks import MaskSpec  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("--raw", required=True, help="the shard's extracted files (rule unzip)")
ap.add_argument("--out", required=True, help="the shard's folder of label maps and index")
ap.add_argument("--masks", required=True, help="the config's masks section, as JSON")
ap.add_argument("--memo", required=True, help="the shard's memo folder (work/memo/merge_masks/shard-XXXX)")
ap.add_argument("--log", required=True)
args = ap.parse_args()

with logged(args.log, "merge_masks") as log:
    index = dataprep.merge_shard(args.raw, args.out, MaskSpec.from_config(json.loads(args.masks)), args.memo)
    log.info("shard %s: %d masks merged (%d unchanged, taken from %s)", index["shard"], len(index["items"]),
             index["reused"], args.memo)
    for image_id, entry in index["set_aside"].items():
        log.warning("set aside %s: %s", image_id, entry["reason"])
