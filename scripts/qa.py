"""Rule qa: the dataset QA table, the table of what was set aside, and their summary."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))
import json  # noqa: E402

from snakeseg import atomic, qa  # noqa: E402
from snakeseg.cli import logged  # noqa: E402

with logged(snakemake.log[0], "qa") as log:
    indexes = [json.loads((Path(d) / "index.json").read_text()) for d in snakemake.input.merged]
    unassigned = json.loads(Path(snakemake.input.unassigned).read_text())
    dataset, rejected, summary = qa.tables(indexes, unassigned)
    atomic.write_csv(snakemake.output.dataset, dataset)
    atomic.write_csv(snakemake.output.rejected, rejected)
    atomic.write_json(snakemake.output.summary, summary)
    log.info("%d usable images, %d set aside, %d files ignored", summary["n_images"], summary["n_set_aside"],
             summary["n_files_ignored"])
    for row in rejected.itertuples():
        log.warning("set aside %s: %s", row.id or row.files, row.reason)
