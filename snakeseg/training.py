"""The training input pipeline (TFRecords -> augmented batches) and the per-fold fit."""

from __future__ import annotations

import math
from pathlib import Path

from .losses import make_loss
from .masks import IGNORE
from .models import build_model, make_metrics
from .tfenv import keras, tf

FEATURES = {
    "id": tf.io.FixedLenFeature([], tf.string),
    "image": tf.io.FixedLenFeature([], tf.string),
    "mask": tf.io.FixedLenFeature([], tf.string),
    "height": tf.io.FixedLenFeature([], tf.int64),
    "width": tf.io.FixedLenFeature([], tf.int64),
    "n_instances": tf.io.FixedLenFeature([], tf.int64),
}


def parse_record(record):
    """One serialised example -> (image float32 [0, 1] HxWx3, target float32 HxWx1).

    The target is the label map: 0 background, 1..n classes (1 = foreground for binary
    tasks), IGNORE (255) for pixels the losses and metrics leave out.
    """
    ex = tf.io.parse_single_example(record, FEATURES)
    image = tf.cast(tf.io.decode_png(ex["image"], channels=3), tf.float32) / 255.0
    target = tf.cast(tf.io.decode_png(ex["mask"], channels=1), tf.float32)
    return image, target


def n_outputs(n_classes: int) -> int:
    """Model output channels: 1 (sigmoid) for one class, background + classes (softmax) otherwise."""
    return 1 if n_classes == 1 else n_classes + 1


def augment_pair(image, mask, flips: bool = True, rot90: bool = True):
    """Random flips and 90-degree rotations, applied identically to image and mask."""
    stacked = tf.concat([image, mask], axis=-1)
    if flips:
        stacked = tf.image.random_flip_left_right(stacked)
        stacked = tf.image.random_flip_up_down(stacked)
    if rot90:
        stacked = tf.image.rot90(stacked, k=tf.random.uniform([], 0, 4, dtype=tf.int32))
    return stacked[..., :3], stacked[..., 3:]


def make_dataset(files: list[str], batch_size: int, training: bool, augment: dict | None = None,
                 n_items: int = 1, seed: int = 0):
    ds = tf.data.TFRecordDataset(files).map(parse_record, num_parallel_calls=tf.data.AUTOTUNE).cache()
    if training:
        aug = augment or {}
        ds = ds.shuffle(max(n_items, 1), seed=seed, reshuffle_each_iteration=True).repeat()
        ds = ds.map(lambda i, m: augment_pair(i, m, aug.get("flips", True), aug.get("rot90", True)),
                    num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def fit_fold(train_files: list[str], val_files: list[str], n_train: int, model_cfg: dict, train_cfg: dict,
             image_size: int, work_dir: str, seed: int = 0, n_classes: int = 1):
    """Train one fold; the best model (by ``train_cfg['monitor']``) lands in ``work_dir/best.h5``.

    An epoch is one pass over the training images but at least ``min_steps_per_epoch``
    batches: on small data sets BatchNorm's moving statistics need that many updates before
    validation scores mean anything, and early stopping would otherwise fire too soon.
    Returns the paths of the best model (saved without optimizer state) and of the CSV history.
    """
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    best, history = work / "best.h5", work / "history.csv"
    for stale in (best, history, work / "model.h5"):
        stale.unlink(missing_ok=True)
    batch = train_cfg["batch_size"]
    train_ds = make_dataset(train_files, batch, True, train_cfg.get("augment"), n_train, seed)
    val_ds = make_dataset(val_files, batch, False)
    n_out = n_outputs(n_classes)
    model = build_model(model_cfg, image_size, n_out)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=train_cfg["learning_rate"]),
                  loss=make_loss(train_cfg["loss"], n_out, IGNORE),
                  metrics=make_metrics(train_cfg["threshold"], n_out, IGNORE))
    monitor = train_cfg["monitor"]
    mode = "min" if monitor.endswith("loss") else "max"
    callbacks = [
        keras.callbacks.ModelCheckpoint(str(best), monitor=monitor, mode=mode, save_best_only=True),
        keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=train_cfg["early_stopping_patience"]),
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=train_cfg["reduce_lr_factor"],
                                          patience=train_cfg["reduce_lr_patience"],
                                          min_lr=train_cfg["min_learning_rate"]),
        keras.callbacks.CSVLogger(str(history)),
    ]
    steps = max(math.ceil(n_train / batch), train_cfg["min_steps_per_epoch"])
    model.fit(train_ds, steps_per_epoch=steps, epochs=train_cfg["epochs"],
              validation_data=val_ds, callbacks=callbacks, verbose=2)
    final = work / "model.h5"
    keras.models.load_model(best, compile=False).save(final, include_optimizer=False)
    return final, history
