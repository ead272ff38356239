"""Rule test_gallery: the report's overlays of the test-set images with the lowest and highest Dice."""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from snakeseg.evaluation import gallery  # noqa: E402
from snakeseg.tables import read_table  # noqa: E402
from snakeseg.workflow.cli import logged  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--per-image", required=True, help="results/test/<exp>/per_image.csv")
ap.add_argument("--overlays", required=True, help="results/test/<exp>/overlays")
ap.add_argument("--experiment", required=True)
ap.add_argument("--n", type=int, default=4, help="lowest- and highest-Dice images shown")
ap.add_argument("--out", required=True)
ap.add_argument("--log", required=True)
args = ap.parse_args()

with logged(args.log, "test_gallery") as log:
    per_image = read_table(args.per_image)
    gallery.gallery({args.experiment: per_image}, lambda exp, row: str(Path(args.overlays) / f"{row['id']}.png"),
                    args.n, args.out, images="Test-set")
    log.info("test gallery of %d scored images: %s", int(per_image["dice"].notna().sum()), args.out)
