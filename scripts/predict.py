"""Rules predict and predict_test: masks and foreground probabilities at the original size of merged
shards, by one fold's model (out-of-fold) or every fold's (the ensemble, on a test set)."""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from snakeseg import atomic  # noqa: E402
from snakeseg.data.items import iter_items  # noqa: E402
from snakeseg.inference.outputs import NetworkOutputs  # noqa: E402
from snakeseg.inference.predict import batched  # noqa: E402
from snakeseg.workflow.cli import logged  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--models", nargs="+", required=True, help="model.h5 files (rule train_fold) or quantize fold folders (predict.engine); several: their mean")
ap.add_argument("--merged", nargs="+", required=True, help="the shards to predict (rule merge_masks)")
ap.add_argument("--raw", nargs="+", required=True, help="the same shards' staged files (rule unzip)")
ap.add_argument("--recipe", required=True, help="the experiment's prediction recipe (mode, image_size, normalize, scale), as JSON")
ap.add_argument("--predict", required=True, help="the config's predict section, as JSON")
ap.add_argument("--classes", required=True, help="foreground class names, as a JSON list")
ap.add_argument("--threads", type=int, default=0)
ap.add_argument("--batch-size", type=int, required=True, help="images (or windows) per model call: predict.batch_size")
ap.add_argument("--out", required=True, help="folder of masks/ and probabilities/ (rules postprocess, postprocess_test)")
ap.add_argument("--log", required=True)
args = ap.parse_args()

with logged(args.log, "predict") as log:
    from snakeseg.inference.predictor import load_predictor

    cfg, n_classes = {**json.loads(args.predict), "batch_size": args.batch_size}, len(json.loads(args.classes))
    recipe = json.loads(args.recipe)
    predictor, n = None, 0
    with atomic.atomic_dir(args.out) as out:
        network = NetworkOutputs(out, n_classes)
        images = iter_items(args.merged, args.raw, recipe["bit_depth"], recipe["channels"], truth=False)
        for batch in batched(images, cfg["batch_size"], image_of=lambda x: x[1]):
            # loaded at the first image: a shard without images loads no TensorFlow
            predictor = predictor or load_predictor(args.models, recipe, cfg, args.threads)
            segmented = predictor.segment([img for _, img, _ in batch], cfg["threshold"])
            for (item, _, _), (labels, fg) in zip(batch, segmented):
                network.write(item["id"], labels, fg)
                n += 1
    log.info("%d images predicted by %d model(s)", n, len(args.models))
