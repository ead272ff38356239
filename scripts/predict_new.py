"""Rule predict_new: one shard of new images segmented by an experiment's fold ensemble."""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from snakeseg import atomic  # noqa: E402
from snakeseg.data.imageio import decode_image  # noqa: E402
from snakeseg.data.staging import Pack  # noqa: E402
from snakeseg.errors import InputError  # noqa: E402
from snakeseg.inference.measure import OBJECT_COLUMNS, foreground_objects, measure_objects  # noqa: E402
from snakeseg.inference.outputs import PredictionWriter  # noqa: E402
from snakeseg.inference.predict import batched  # noqa: E402
from snakeseg.inference.summary import COLUMNS, describe  # noqa: E402
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
    rows, aside, objects = [], [], []
    with Pack(args.raw) as pack, atomic.atomic_dir(args.out) as out:
        manifest = pack.manifest
        aside += [{"id": i, "files": " ".join(e["files"]), "reason": e["reason"]} for i, e in manifest["set_aside"].items()]
        writer = PredictionWriter(out, {**cfg, "overlay_truth": False}, json.loads(args.instances), n_classes,
                                  probabilities=cfg["save_probabilities"])
        readable = []
        for image_id, entry in manifest["items"].items():
            source = entry["image"]["name"]
            try:
                readable.append((image_id, source, decode_image(pack.read(source), source, recipe["bit_depth"])))
            except InputError as err:
                aside.append({"id": image_id, "files": source, "reason": f"{err.path}: {err.problem}"})
        for batch in batched(readable, cfg["batch_size"]):
            segmented = predictor.segment([image for _, _, image in batch], cfg["threshold"])
            for (image_id, source, image), (labels, fg) in zip(batch, segmented):
                ids = writer.write(image_id, image, labels, fg)
                rows.append({"id": image_id, "source": source, "shard": manifest["shard"], **describe(labels, ids)})
                objects.append(measure_objects(image_id, foreground_objects(labels) if ids is None else ids, image))
        atomic.write_csv(out / "summary.csv", pd.DataFrame(rows, columns=COLUMNS))
        atomic.write_csv(out / "objects.csv", pd.concat(objects) if objects else pd.DataFrame(columns=OBJECT_COLUMNS))
        atomic.write_csv(out / "set_aside.csv", pd.DataFrame(aside, columns=["id", "files", "reason"]))
    log.info("shard %s: %d images segmented, %d set aside", manifest["shard"], len(rows), len(aside))
    for row in aside:
        log.warning("set aside %s: %s", row["id"], row["reason"])
