"""Rule metrics: per-image table and per-fold/overall summary of the out-of-fold predictions."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

import pandas as pd  # noqa: E402

from snakeseg import atomic, metrics  # noqa: E402
from snakeseg.cli import logged  # noqa: E402
from snakeseg.inference import iter_items, read_prediction  # noqa: E402

with logged(snakemake.log[0], "metrics") as log:
    pred_dirs = {Path(p).name.split("-", 1)[1]: Path(p) for p in snakemake.input.predictions}
    rows = []
    for item, _, truth in iter_items(snakemake.input.merged):
        hits = [(fold, d / "masks" / f"{item['id']}.png") for fold, d in pred_dirs.items()
                if (d / "masks" / f"{item['id']}.png").exists()]
        if len(hits) != 1:
            raise SystemExit(f"image {item['id']} has {len(hits)} out-of-fold predictions, expected 1")
        fold, path = hits[0]
        classes = snakemake.params.classes
        scores = metrics.label_scores(truth, read_prediction(path, len(classes)), classes)
        rows.append({"id": item["id"], "fold": int(fold), "shard": item["shard"], **scores,
                     "n_instances": item["n_instances"], "height": item["height"], "width": item["width"]})
    table = pd.DataFrame(rows).sort_values(["fold", "id"])
    atomic.write_csv(snakemake.output.per_image, table)
    summary = metrics.summarize(table)
    atomic.write_json(snakemake.output.summary, summary)
    log.info("overall Dice mean %s median %s over %d images", summary["overall"]["dice"]["mean"],
             summary["overall"]["dice"]["median"], len(table))
