"""Rule report: the report's plots."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))
import json  # noqa: E402

import pandas as pd  # noqa: E402

from snakeseg import plots  # noqa: E402
from snakeseg.cli import logged  # noqa: E402


def with_experiment(paths):
    """One frame from per-experiment CSVs (results/<kind>/<exp>/per_image.csv)."""
    return pd.concat([pd.read_csv(p).assign(experiment=Path(p).parent.name) for p in paths], ignore_index=True)


with logged(snakemake.log[0], "report"):
    histories = {(Path(p).parent.parent.name, Path(p).parent.name.split("-", 1)[1]): pd.read_csv(p)
                 for p in snakemake.input.histories}
    plots.training_curves(histories, snakemake.output.curves)
    plots.dice_histogram(with_experiment(snakemake.input.per_image), snakemake.output.dice)
    plots.comparison(with_experiment(snakemake.input.per_image), pd.read_csv(snakemake.input.comparison),
                     snakemake.output.comparison)
    plots.quantization_scatter(with_experiment(snakemake.input.quantized), snakemake.output.quant)
    plots.qa_summary(pd.read_csv(snakemake.input.qa_dataset), json.loads(Path(snakemake.input.qa_summary).read_text()),
                     snakemake.output.qa)
