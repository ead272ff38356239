"""Rule quantize: a fold's TFLite variants and SavedModel; size, speed and Dice of each against the float model."""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from snakeseg import atomic  # noqa: E402
from snakeseg.data.items import iter_items  # noqa: E402
from snakeseg.workflow.cli import logged  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--model", required=True, help="the fold's model.h5 (rule train_fold)")
ap.add_argument("--merged", nargs="+", required=True, help="the fold's validation shards (rule merge_masks)")
ap.add_argument("--raw", nargs="+", required=True, help="the same shards' staged files (rule unzip)")
ap.add_argument("--tfrecords", nargs="+", required=True, help="the fold's training TFRecords (int8 calibration)")
ap.add_argument("--indexes", nargs="+", required=True, help="their JSON indexes, in the same order")
ap.add_argument("--val-shards", required=True, help="the fold's validation shards, comma-separated (never calibrate)")
ap.add_argument("--fold", type=int, required=True)
ap.add_argument("--recipe", required=True, help="the experiment's prediction recipe, as JSON")
ap.add_argument("--predict", required=True, help="predict.max_side, overlap and window, as JSON")
ap.add_argument("--quantize", required=True, help="the config's quantize section, as JSON")
ap.add_argument("--threshold", type=float, required=True)
ap.add_argument("--classes", required=True, help="foreground class names, as a JSON list")
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--batch-size", type=int, required=True, help="images per model call: predict.batch_size")
ap.add_argument("--out", required=True, help="the fold's folder: model_<variant>.tflite, savedmodel/, CSVs")
ap.add_argument("--log", required=True)
args = ap.parse_args()

with logged(args.log, "quantize") as log:
    from snakeseg import tfenv
    from snakeseg.deploy import convert, evaluate
    from snakeseg.deploy.runtime import TFLiteModel
    from snakeseg.inference.predictor import traced
    from snakeseg.training.models import load_model

    tfenv.configure(args.threads, args.fold)
    cfg, quant, classes = json.loads(args.predict), json.loads(args.quantize), json.loads(args.classes)
    model = load_model(args.model)
    network, whole = convert.deployable(model)
    side, channels = int(model.input_shape[1]), int(model.input_shape[-1])
    recipe = {**json.loads(args.recipe), "patch_size": side, "max_side": cfg["max_side"], "overlap": cfg["overlap"],
              "window": cfg["window"]}
    indexes = [json.loads(Path(p).read_text()) for p in args.indexes]
    val = set(args.val_shards.split(","))
    calibration = lambda: convert.calibration_patches(  # noqa: E731
        args.tfrecords, indexes, val, recipe, quant["calibration_samples"], seed=args.fold)
    with atomic.atomic_dir(args.out) as tmp:
        savedmodel = tmp / "savedmodel" if quant["savedmodel"] else None
        conversions = convert.convert_all(network, quant["variants"], calibration, quant["int8_io"], savedmodel)
        for c in conversions:
            log.info("%s: %s in %.1f s", c.variant, f"{len(c.content)} bytes" if c.content else c.error, c.seconds)

        runners = {"keras": traced([network])[0]}
        runners.update({c.variant: TFLiteModel(c.content, threads=args.threads).predict
                        for c in conversions if c.content})
        items = iter_items(args.merged, args.raw, recipe["bit_depth"], recipe["channels"])
        per_image, seconds = evaluate.score_models(runners, items, recipe, whole, args.threshold, classes, args.fold,
                                                   args.batch_size)
        variants = evaluate.variant_records(args.fold, conversions, runners, Path(args.model).stat().st_size, side,
                                            channels, args.threads, quant["latency_runs"], len(per_image), seconds)
        log.info("fold %d, %d images:\n%s", args.fold, len(per_image),
                 variants.drop(columns="error").to_string(index=False))

        for c in conversions:
            if c.content:
                atomic.write_bytes(tmp / f"model_{c.variant}.tflite", c.content, fsync=False)
        atomic.write_csv(tmp / "per_image.csv", per_image)
        atomic.write_csv(tmp / "variants.csv", variants)
