"""Rule unzip: extract one shard's members from the input zip."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

import json  # noqa: E402

from snakeseg import dataprep  # noqa: E402
from snakeseg.cli import logged  # noqa: E402

with logged(snakemake.log[0], "unzip") as log:
    manifest = json.loads(Path(snakemake.input.manifest).read_text())
    n = dataprep.extract_shard(snakemake.config["input"], manifest, snakemake.output[0])
    log.info("shard %s: %d images, %d files extracted, %d set aside", manifest["shard"],
             len(manifest["items"]), n, len(manifest["set_aside"]))
