"""Rule make_shards: write one shard's TFRecord and its index."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

from snakeseg import dataprep  # noqa: E402
from snakeseg.cli import logged  # noqa: E402

with logged(snakemake.log[0], "make_shards") as log:
    summary = dataprep.make_shard(snakemake.input[0], snakemake.output.tfrecord, snakemake.output.index,
                                  snakemake.params.image_size)
    log.info("shard %s: %d examples at %d px", summary["shard"], summary["count"], summary["image_size"])
