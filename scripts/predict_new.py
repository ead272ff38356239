"""Rule predict_new: one shard of new images predicted by an experiment's fold ensemble (masks and
foreground probabilities; rule postprocess_new makes the rest), and the images set aside."""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from snakeseg import atomic  # noqa: E402
from snakeseg.data.staging import Pack  # noqa: E402
from snakeseg.inference.newimages import ASIDE_COLUMNS, predict_pack  # noqa: E402
from snakeseg.inference.outputs import NetworkOutputs  # noqa: E402
from snakeseg.workflow.cli import logged  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--models", nargs="+", required=True, help="the experiment's fold models: model.h5 (rule train_fold) or quantize fold folders (predict.engine)")
ap.add_argument("--raw", required=True, help="the shard's staged images (rule unzip_new)")
ap.add_argument("--recipe", required=True, help="the experiment's prediction recipe (mode, image_size, normalize, scale), as JSON")
ap.add_argument("--predict", required=True, help="the config's predict section, as JSON")
ap.add_argument("--classes", required=True, help="foreground class names, as a JSON list")
ap.add_argument("--threads", type=int, default=0)
ap.add_argument("--batch-size", type=int, required=True, help="images (or windows) per model call: predict.batch_size")
ap.add_argument("--skip", default="[]", help="ids not to predict, as a JSON list (pool images accepted before)")
ap.add_argument("--out", required=True, help="folder of masks/, probabilities/ and set_aside.csv")
ap.add_argument("--log", required=True)
args = ap.parse_args()

with logged(args.log, "predict_new") as log:
    from snakeseg.inference.predictor import load_predictor

    cfg, n_classes = {**json.loads(args.predict), "batch_size": args.batch_size}, len(json.loads(args.classes))
    recipe, skip = json.loads(args.recipe), set(json.loads(args.skip))
    with Pack(args.raw) as pack, atomic.atomic_dir(args.out) as out:
        # An empty shard (or one of accepted pool images) loads no TensorFlow: seconds, not half a minute.
        todo = set(pack.manifest["items"]) - skip
        predictor = load_predictor(args.models, recipe, cfg, args.threads) if todo else None
        aside = predict_pack(pack, predictor, NetworkOutputs(out, n_classes), cfg["threshold"], cfg["batch_size"],
                             recipe["bit_depth"], recipe["channels"], skip=skip)
        atomic.write_csv(out / "set_aside.csv", pd.DataFrame(aside, columns=ASIDE_COLUMNS))
    log.info("shard %s: %d images predicted, %d set aside", pack.manifest["shard"],
             len(list((Path(args.out) / "masks").iterdir())), len(aside))
    for row in aside:
        log.warning("set aside %s: %s", row["id"], row["reason"])
