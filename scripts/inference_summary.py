"""Rule inference_summary: the new images' per-shard tables in one, everything set aside, and each kind of
output (masks, overlays, ...) of every shard in one folder."""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from snakeseg import atomic  # noqa: E402
from snakeseg.inference.collect import collect  # noqa: E402
from snakeseg.inference.measure import OBJECT_COLUMNS  # noqa: E402
from snakeseg.inference.summary import COLUMNS, gather, set_aside  # noqa: E402
from snakeseg.tables import read_table  # noqa: E402
from snakeseg.workflow.cli import logged  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--shards", nargs="+", required=True, help="the experiment's shard folders (rule predict_new)")
ap.add_argument("--unassigned", required=True, help="the input's files that belong to no image (the plan)")
ap.add_argument("--summary", required=True)
ap.add_argument("--objects", required=True, help="one row per object of every image")
ap.add_argument("--set-aside", required=True)
ap.add_argument("--collect", nargs="+", required=True,
                help="folders to fill with every shard's files of the subfolder of the same name (masks, overlays, ...)")
ap.add_argument("--log", required=True)
args = ap.parse_args()

with logged(args.log, "inference_summary") as log:
    # Shards segmented by a snakeseg before the objects table, or before its intensities in stored values.
    older = [d for d in args.shards if not (Path(d) / "objects.csv").exists()
             or "integrated_intensity" not in pd.read_csv(Path(d) / "objects.csv", nrows=0).columns]
    if older:
        raise SystemExit(f"{older[0]} was segmented by an earlier snakeseg (its objects.csv is missing or lacks "
                         "integrated_intensity): run snakemake --forcerun postprocess_new")
    summary = gather([read_table(Path(d) / "summary.csv") for d in args.shards],
                     COLUMNS)
    aside = set_aside(args.shards, args.unassigned)
    atomic.write_csv(args.summary, summary)
    objects = gather([read_table(Path(d) / "objects.csv") for d in args.shards], OBJECT_COLUMNS)
    atomic.write_csv(args.objects, objects.sort_values(["id", "object"]))
    atomic.write_csv(args.set_aside, aside)
    n_files = collect(args.shards, args.collect)
    log.info("%d images segmented (%d objects), %d set aside; %d files in each of %s", len(summary), len(objects),
             len(aside), n_files, ", ".join(Path(d).name for d in args.collect))
