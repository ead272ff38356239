"""Rule merge_masks: one label map per image, with the QA record of every decision."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

from snakeseg import dataprep  # noqa: E402
from snakeseg.cli import logged  # noqa: E402
from snakeseg.masks import MaskSpec  # noqa: E402

with logged(snakemake.log[0], "merge_masks") as log:
    index = dataprep.merge_shard(snakemake.input[0], snakemake.output[0], MaskSpec.from_config(snakemake.params.masks),
                                 snakemake.params.memo)
    log.info("shard %s: %d masks merged (%d unchanged, taken from %s)", index["shard"], len(index["items"]),
             index["reused"], snakemake.params.memo)
    for image_id, entry in index["set_aside"].items():
        log.warning("set aside %s: %s", image_id, entry["reason"])
