"""Rule qa_rejected: every image or file set aside on the data path, with its reason."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

import json  # noqa: E402

import pandas as pd  # noqa: E402

from snakeseg import atomic  # noqa: E402
from snakeseg.cli import logged  # noqa: E402

with logged(snakemake.log[0], "qa_rejected") as log:
    rows = [{"id": "", "shard": "", "files": e["file"], "reason": e["reason"]}
            for e in json.loads(Path(snakemake.input.unassigned).read_text())]
    for path in snakemake.input.indexes:
        index = json.loads(Path(path).read_text())
        rows += [{"id": image_id, "shard": index["shard"], "files": " ".join(e["files"]), "reason": e["reason"]}
                 for image_id, e in sorted(index["set_aside"].items())]
    atomic.write_csv(snakemake.output[0], pd.DataFrame(rows, columns=["id", "shard", "files", "reason"]))
    log.info("%d entries set aside", len(rows))
