"""Rule train_fold: train one fold on the other folds' shards, keep the best model and the history."""
import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from snakeseg import atomic  # noqa: E402
from snakeseg.workflow.cli import logged  # noqa: E402
from snakeseg.workflow.folds import fold_fingerprint, split_fold  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--tfrecords", nargs="+", required=True, help="every shard's TFRecord (rule make_shards)")
ap.add_argument("--indexes", nargs="+", required=True, help="their JSON indexes, in the same order")
ap.add_argument("--accepted", nargs="*", default=[], help="TFRecords of accepted predictions (active learning): training only")
ap.add_argument("--accepted-indexes", nargs="*", default=[], help="their JSON indexes, in the same order")
ap.add_argument("--fold", type=int, required=True)
ap.add_argument("--val-shards", required=True, help="the fold's validation shards, comma-separated")
ap.add_argument("--model", required=True, help="the experiment's model block, as JSON")
ap.add_argument("--train", required=True, help="the experiment's train block but threads, runtime_min, cache_mb, as JSON")
ap.add_argument("--data", required=True, help="the experiment's data block, as JSON")
ap.add_argument("--image-size", type=int, required=True, help="the square side of train.mode: resize")
ap.add_argument("--classes", required=True, help="foreground class names, as a JSON list")
ap.add_argument("--scratch", required=True, help="folder of the resumable training state")
ap.add_argument("--threads", type=int, default=0)
ap.add_argument("--cache-mb", type=float, required=True, help="train.cache_mb (how the job runs: not part of --train)")
ap.add_argument("--out-model", required=True)
ap.add_argument("--out-history", required=True)
ap.add_argument("--log", required=True)
args = ap.parse_args()

with logged(args.log, "train_fold") as log:
    from snakeseg import tfenv
    from snakeseg.training.fit import fit_fold
    from snakeseg.training.patches import epoch_draws
    from snakeseg.training.recipe import side_multiple, training_recipe

    model_cfg, train_cfg, classes = json.loads(args.model), json.loads(args.train), json.loads(args.classes)
    tfenv.configure(args.threads, train_cfg["seed"] + args.fold)
    val = set(args.val_shards.split(","))
    indexes = [json.loads(Path(p).read_text()) for p in args.indexes]
    accepted = [json.loads(Path(p).read_text()) for p in args.accepted_indexes]
    data = split_fold(args.tfrecords, indexes, val, args.accepted, accepted)
    indexes += accepted  # part of the fold's identity: a new accepted image restarts training
    log.info("fold %d: %d training images (%d accepted predictions), %d validation images (shards %s)", args.fold,
             data.n_train, sum(i["count"] for i in accepted), data.n_val, sorted(val))
    if data.n_train == 0 or data.n_val == 0:
        aside = [(i, e["reason"]) for index in indexes for i, e in index["set_aside"].items()]
        why = (f"; {len(aside)} were set aside, e.g. {aside[0][0]}: {aside[0][1]}" if aside else "")
        raise SystemExit(f"fold {args.fold} has {data.n_train} training and {data.n_val} validation images{why}. "
                         "See results/qa/rejected.csv: fix what it says, or use fewer folds or more data")
    device = "gpu" if tfenv.tf.config.list_physical_devices("GPU") else "cpu"
    recipe = training_recipe(train_cfg, json.loads(args.data), args.image_size, data.train_sizes, device,
                             side_multiple(model_cfg))
    best, history = fit_fold(data.train_files, data.val_files, data.n_train, model_cfg,
                             {**train_cfg, "cache_mb": args.cache_mb}, recipe,
                             args.scratch, seed=train_cfg["seed"] + args.fold, n_classes=len(classes),
                             fingerprint=fold_fingerprint(args.fold, model_cfg, train_cfg, recipe, classes, val, indexes),
                             train_pixels=data.train_pixels, epoch_samples=epoch_draws(recipe, data.train_sizes))
    for src, dst in ((best, args.out_model), (history, args.out_history)):
        with atomic.atomic_path(dst) as tmp:
            shutil.copyfile(src, tmp)
