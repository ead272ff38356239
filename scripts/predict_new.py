"""Rule predict_new: one shard of new images segmented by an experiment's fold ensemble."""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from snakeseg import atomic  # noqa: E402
from snakeseg.data.staging import Pack  # noqa: E402
from snakeseg.inference.newimages import segment_pack, write_tables  # noqa: E402
from snakeseg.inference.outputs import PredictionWriter  # noqa: E402
from snakeseg.workflow.cli import logged  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--models", nargs="+", required=True, help="the experiment's fold models: model.h5 (rule train_fold) or quantize fold folders (predict.engine)")
ap.add_argument("--raw", required=True, help="the shard's staged images (rule unzip_new)")
ap.add_argument("--recipe", required=True, help="the experiment's prediction recipe (mode, image_size, normalize, scale), as JSON")
ap.add_argument("--predict", required=True, help="the config's predict section, as JSON")
ap.add_argument("--classes", required=True, help="foreground class names, as a JSON list")
ap.add_argument("--instances", required=True, help="the config's instances section (enabled resolved), as JSON")
ap.add_argument("--threads", type=int, default=0)
ap.add_argument("--batch-size", type=int, required=True, help="images (or windows) per model call: predict.batch_size")
ap.add_argument("--out", required=True, help="folder of masks/, overlays/, probabilities/, instances/, summary.csv, objects.csv and set_aside.csv")
ap.add_argument("--log", required=True)
args = ap.parse_args()

with logged(args.log, "predict_new") as log:
    from snakeseg.inference.predictor import load_predictor

    cfg, n_classes = {**json.loads(args.predict), "batch_size": args.batch_size}, len(json.loads(args.classes))
    recipe = json.loads(args.recipe)
    predictor = load_predictor(args.models, recipe, cfg, args.threads)
    with Pack(args.raw) as pack, atomic.atomic_dir(args.out) as out:
        writer = PredictionWriter(out, {**cfg, "overlay_truth": False}, json.loads(args.instances), n_classes,
                                  probabilities=cfg["save_probabilities"])
        tables = segment_pack(pack, predictor, writer, cfg["threshold"], cfg["batch_size"], recipe["bit_depth"])
        write_tables(out, tables)
    aside = tables["aside"]
    log.info("shard %s: %d images segmented, %d set aside", pack.manifest["shard"], len(tables["summary"]), len(aside))
    for row in aside:
        log.warning("set aside %s: %s", row["id"], row["reason"])
