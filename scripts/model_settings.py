"""Rule model_settings: how an experiment's fold models segment an image (recipe, predict settings,
classes, instances), written beside them so that the models folder alone can segment images
(``python -m snakeseg segment``)."""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from snakeseg import atomic  # noqa: E402
from snakeseg.workflow.cli import logged  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__)
for name in ("recipe", "predict", "classes", "instances"):
    ap.add_argument(f"--{name}", required=True, help="as rule predict_new's, JSON")
ap.add_argument("--folds", required=True, help="the experiment's fold numbers, as a JSON list (segment checks them)")
ap.add_argument("--out", required=True)
ap.add_argument("--log", required=True)
args = ap.parse_args()

with logged(args.log, "model_settings") as log:
    settings = {name: json.loads(getattr(args, name)) for name in ("recipe", "predict", "classes", "instances", "folds")}
    atomic.write_json(args.out, settings)
    log.info("wrote %s", args.out)
