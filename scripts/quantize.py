"""Rule quantize: dynamic-range TFLite model and float-vs-quantized Dice on the fold's own images."""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from snakeseg import atomic  # noqa: E402
from snakeseg.data.items import iter_items  # noqa: E402
from snakeseg.evaluation.metrics import label_scores  # noqa: E402
from snakeseg.inference.predict import batched  # noqa: E402
from snakeseg.workflow.cli import logged  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--model", required=True, help="the fold's model.h5 (rule train_fold)")
ap.add_argument("--merged", nargs="+", required=True, help="the fold's validation shards (rule merge_masks)")
ap.add_argument("--raw", nargs="+", required=True, help="the same shards' staged files (rule unzip)")
ap.add_argument("--fold", type=int, required=True)
ap.add_argument("--recipe", required=True, help="the experiment's prediction recipe, as JSON")
ap.add_argument("--predict", required=True, help="the config's predict section, as JSON")
ap.add_argument("--threshold", type=float, required=True)
ap.add_argument("--classes", required=True, help="foreground class names, as a JSON list")
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--tflite", required=True)
ap.add_argument("--per-image", required=True)
ap.add_argument("--log", required=True)
args = ap.parse_args()

with logged(args.log, "quantize") as log:
    from snakeseg import tfenv
    from snakeseg.deploy.tflite import TFLiteModel, convert_dynamic_range
    from snakeseg.inference.predictor import Predictor, keras_models
    from snakeseg.training.models import load_model

    tfenv.configure(args.threads, 0)
    classes, cfg = json.loads(args.classes), json.loads(args.predict)
    content = convert_dynamic_range(load_model(args.model))
    atomic.write_bytes(args.tflite, content)
    # Both through the same path, sliding windows of the model's fixed input in native mode, no TTA.
    models, side, _ = keras_models([args.model])
    recipe = {**json.loads(args.recipe), "patch_size": side, "overlap": cfg["overlap"]}
    float_model = Predictor(models, recipe, batch_size=8, whole_images=False)
    quantized = Predictor([TFLiteModel(content, threads=args.threads).predict], recipe, batch_size=8,
                          whole_images=False)
    rows = []
    for batch in batched(iter_items(args.merged, args.raw), 8):
        images = [img for _, img, _ in batch]
        for (item, _, truth), p_float, p_quant in zip(batch, float_model.labels(images, args.threshold),
                                                      quantized.labels(images, args.threshold)):
            rows.append({"fold": args.fold, "id": item["id"],
                         "dice_float": label_scores(truth, p_float, classes)["dice"],
                         "dice_quantized": label_scores(truth, p_quant, classes)["dice"]})
    atomic.write_csv(args.per_image, pd.DataFrame(rows))
    log.info("fold %d: TFLite %d bytes, %d images compared", args.fold, len(content), len(rows))
