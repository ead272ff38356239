"""Rule unzip: extract one shard's members from the input zip.

Run by the rule as a command (no ``snakemake`` object to import: a data job is short, and
``script:`` would add ~0.2 s of start-up to each):

    python scripts/unzip.py --archive ZIP --manifest MANIFEST --out DIR --log LOG
"""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from snakeseg import dataprep  # noqa: E402
from snakeseg.cli import logged  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("--archive", required=True, help="the input zip or folder")
ap.add_argument("--manifest", required=True, help="the shard's manifest (work/manifests/shard-XXXX.json)")
ap.add_argument("--out", required=True, help="the shard's folder of extracted files")
ap.add_argument("--log", required=True)
args = ap.parse_args()

with logged(args.log, "unzip") as log:
    manifest = json.loads(Path(args.manifest).read_text())
    n = dataprep.extract_shard(args.archive, manifest, args.out)
    log.info("shard %s: %d images, %d files extracted, %d set aside", manifest["shard"],
             len(manifest["items"]), n, len(manifest["set_aside"]))
