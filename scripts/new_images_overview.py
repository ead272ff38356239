"""Rule new_images_overview: the report's figure of a batch of new images (fewest and most objects,
distributions of objects per image, object area and intensity)."""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from snakeseg.tables import read_table  # noqa: E402
from snakeseg.workflow.cli import logged  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--summary", required=True, help="results/inference/<exp>/summary.csv")
ap.add_argument("--objects", required=True, help="results/inference/<exp>/objects.csv")
ap.add_argument("--overlays", required=True, help="the experiment's folder of every new image's overlay")
ap.add_argument("--experiment", required=True)
ap.add_argument("--n", type=int, default=4, help="images shown with the fewest and with the most objects")
ap.add_argument("--out", required=True)
ap.add_argument("--log", required=True)
args = ap.parse_args()

with logged(args.log, "new_images_overview") as log:
    from snakeseg.evaluation.overview import new_images_overview

    summary = read_table(args.summary)
    objects = read_table(args.objects)
    new_images_overview(summary, objects, Path(args.overlays), args.n, args.out, f"New images, {args.experiment}")
    log.info("overview of %d images and %d objects: %s", len(summary), len(objects), args.out)
