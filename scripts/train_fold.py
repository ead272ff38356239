"""Rule train_fold: train one fold on the other folds' shards, keep the best model and the history."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))

import json  # noqa: E402
import shutil  # noqa: E402

from snakeseg import atomic, shards  # noqa: E402
from snakeseg.cli import logged  # noqa: E402

with logged(snakemake.log[0], "train_fold") as log:
    from snakeseg import tfenv, training

    fold = int(snakemake.wildcards.fold)
    train_cfg = snakemake.params.train
    tfenv.configure(snakemake.threads, train_cfg["seed"] + fold)
    val = set(snakemake.params.val_shards)
    train_files, val_files, n_train, n_val = [], [], 0, 0
    indexes = [json.loads(Path(p).read_text()) for p in snakemake.input.indexes]
    # Configuration and data identity: a rerun with the same fingerprint resumes, another starts over.
    fingerprint = shards.fingerprint([fold, snakemake.params.model, train_cfg, snakemake.params.image_size,
                                      snakemake.params.classes, sorted(val), indexes])
    for tfrec, index in zip(snakemake.input.tfrecords, indexes):
        if index["shard"] in val:
            val_files.append(tfrec)
            n_val += index["count"]
        else:
            train_files.append(tfrec)
            n_train += index["count"]
    log.info("fold %d: %d training images, %d validation images (shards %s)", fold, n_train, n_val, sorted(val))
    if n_train == 0 or n_val == 0:
        raise SystemExit(f"fold {fold} has {n_train} training and {n_val} validation images after bad images "
                         "were set aside; see results/qa/rejected.csv, use fewer folds or more data")
    best, history = training.fit_fold(train_files, val_files, n_train, snakemake.params.model, train_cfg,
                                      snakemake.params.image_size, snakemake.params.scratch, seed=train_cfg["seed"] + fold,
                                      n_classes=len(snakemake.params.classes), fingerprint=fingerprint)
    for src, dst in ((best, snakemake.output.model), (history, snakemake.output.history)):
        with atomic.atomic_path(dst) as tmp:
            shutil.copyfile(src, tmp)
