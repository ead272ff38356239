"""Rule unzip: stage one shard's files from the input zip or folder in one pack file."""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from snakeseg.data import staging  # noqa: E402
from snakeseg.workflow.cli import logged  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--archive", required=True, help="the input zip or folder")
ap.add_argument("--manifest", required=True, help="the shard's manifest (rule manifest)")
ap.add_argument("--out", required=True, help="the shard's folder of staged files")
ap.add_argument("--log", required=True)
args = ap.parse_args()

with logged(args.log, "unzip") as log:
    manifest = json.loads(Path(args.manifest).read_text())
    n = staging.extract_shard(args.archive, manifest, args.out)
    log.info("shard %s: %d images, %d files staged, %d set aside", manifest["shard"], len(manifest["items"]), n,
             len(manifest["set_aside"]))
