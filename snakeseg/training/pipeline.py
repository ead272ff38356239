"""The training input pipeline (TFRecords -> augmented batches) and the per-fold fit."""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from . import atomic, memory
from . import augment as augmentation
from .losses import make_loss
from .masks import IGNORE
from .models import build_model, make_metrics, set_encoder_trainable
from .tfenv import keras, tf

log = logging.getLogger("snakeseg")

FEATURES = {
    "id": tf.io.FixedLenFeature([], tf.string),
    "image": tf.io.FixedLenFeature([], tf.string),
    "mask": tf.io.FixedLenFeature([], tf.string),
    "height": tf.io.FixedLenFeature([], tf.int64),
    "width": tf.io.FixedLenFeature([], tf.int64),
    "n_instances": tf.io.FixedLenFeature([], tf.int64),
}


def decode_record(record):
    """One serialised example -> (image uint8 HxWx3, label map uint8 HxWx1)."""
    ex = tf.io.parse_single_example(record, FEATURES)
    return tf.io.decode_png(ex["image"], channels=3), tf.io.decode_png(ex["mask"], channels=1)


def to_float(image, labels):
    """The model's input convention: image float32 in [0, 1] (times float32(1/255): the product XLA
    makes of a division by 255, so compiled and plain conversions agree bit for bit); target float32
    label map (0 background, 1..n classes, IGNORE (255) for pixels the losses and metrics leave out)."""
    return tf.cast(image, tf.float32) * (1 / 255), tf.cast(labels, tf.float32)


def parse_record(record):
    """One serialised example -> (image, target) as the model sees them, without augmentation."""
    return to_float(*decode_record(record))


def n_outputs(n_classes: int) -> int:
    """Model output channels: 1 (sigmoid) for one class, background + classes (softmax) otherwise."""
    return 1 if n_classes == 1 else n_classes + 1


def _runs(n: int, size: int) -> list[tuple[int, int]]:
    """``size`` runs of consecutive positions of a batch of ``n``, as (start, stop): lengths differ
    by at most one, the first ``n % size`` one longer (empty ones when ``n < size``)."""
    q, r = divmod(n, size)
    bounds = [0]
    for j in range(size):
        bounds.append(bounds[-1] + q + (j < r))
    return list(zip(bounds, bounds[1:]))


def position_transforms(n: int, size: int, offset: int) -> list[int]:
    """Which transform of a group of ``size`` each position of a batch of ``n`` gets in
    :func:`batch_to_float`: run j of :func:`_runs` gets transform ``(j + offset) % size``."""
    return [(j + offset) % size for j, (start, stop) in enumerate(_runs(n, size)) for _ in range(start, stop)]


def _batch_branch(images, labels, group: tuple, offset: int):
    """The batch converted as ``to_float``, run j of :func:`_runs` transformed by
    ``group[(j + offset) % len(group)]``: len(group) contiguous slices, each one compiled loop."""
    size = len(group)
    parts = []
    for j, (start, stop) in enumerate(_runs(images.shape[0], size)):
        if stop > start:
            transform = group[(j + offset) % size]
            parts.append(to_float(augmentation.apply_dihedral(images[start:stop], transform, axis=1),
                                  augmentation.apply_dihedral(labels[start:stop], transform, axis=1)))
    if len(parts) == 1:
        return parts[0]
    return tf.concat([p[0] for p in parts], 0), tf.concat([p[1] for p in parts], 0)


@functools.lru_cache(maxsize=None)
def _batch_kernel(group: tuple, jit: bool):
    def kernel(images, labels, offset):
        if len(group) == 1:
            return to_float(images, labels)
        return tf.switch_case(offset, [functools.partial(_batch_branch, images, labels, group, r)
                                       for r in range(len(group))])
    return tf.function(kernel, jit_compile=jit)


def batch_to_float(images, labels, group: list | tuple = ((False, False, False),), offset=0,
                   jit: bool | None = None):
    """A batch of uint8 pairs (``B x H x W x 3`` images, ``B x H x W x 1`` label maps) flipped and
    rotated by 90 degrees and converted as :func:`to_float`, in one pass.

    ``group`` lists the allowed transforms (``augment.dihedral_group``). The batch is cut into
    ``len(group)`` runs of consecutive positions (lengths differing by at most one) and run j gets
    ``group[(j + offset) % len(group)]`` (:func:`position_transforms`). With ``offset`` drawn
    uniformly per batch and the pairs shuffled, each pair gets a transform drawn uniformly from the
    group, independently of which pair it is, and a batch of 8 holds each of the 8 flips/rotations once
    (stratified, as in Latin hypercube sampling) instead of a random multiset of them. Each transform is
    known when the function is traced, so XLA (``jit``; default: :func:`input_jit`) compiles every run
    to one loop that reads each source pixel once and writes its float: a flip costs nothing measurable
    and a transpose ~0.3 ns a value here (~0.08 ms a 256 px pair; :func:`make_dataset` avoids it by
    keeping transposed copies), where separate TensorFlow ops would each take a full pass.
    With more than one transform the batch size must be known (``drop_remainder=True``).
    """
    group = tuple(tuple(bool(f) for f in t) for t in group)
    if len(group) > 1 and images.shape[0] is None:
        raise ValueError("batch_to_float with transforms needs a known batch size (batch(..., drop_remainder=True))")
    return _batch_kernel(group, input_jit() if jit is None else bool(jit))(images, labels, offset)


@functools.cache
def input_jit() -> bool:
    """Whether XLA compiles functions inside tf.data maps on this machine (tried once per process on
    a tiny batch; when it cannot, the input pipeline runs the same functions without XLA, slower)."""
    try:
        with tf.init_scope():  # eagerly, also when first asked while a map function is traced
            probe = _batch_kernel(((False, False, False), (True, True, False)), True)
            ds = tf.data.Dataset.from_tensors((tf.zeros([2, 3, 3, 3], tf.uint8), tf.zeros([2, 3, 3, 1], tf.uint8)))
            next(iter(ds.map(lambda i, t: probe(i, t, tf.constant(1)))))
        return True
    except Exception as exc:  # noqa: BLE001 - any failure means: run without XLA
        log.warning("input pipeline without XLA (%s: %s)", type(exc).__name__, str(exc).strip()[:200])
        return False


class PairStore:
    """The decoded uint8 pairs of TFRecord files, held in memory on the CPU for random access.

    ``images`` (rows x H x W x 3) and ``labels`` (rows x H x W x 1) are variables: pair i (in file
    order) is row i and, with ``transposed``, its transpose is row ``n + i``. The transposed copies
    double the memory (``n x H x W x 4`` bytes each way) and save the one costly part of a 90-degree
    rotation: a transposed read costs about as much as the rest of a batch's conversion (see
    :func:`batch_to_float`), a flip of a stored copy nothing measurable.
    """

    def __init__(self, files: list[str], transposed: bool = False, chunk: int = 64):
        auto = tf.data.AUTOTUNE
        self.n = int(tf.data.TFRecordDataset(files).reduce(np.int64(0), lambda count, _: count + 1))
        if self.n == 0:
            raise ValueError(f"no examples in {', '.join(map(str, files)) or 'an empty file list'}")
        self.transposed = transposed
        decoded = tf.data.TFRecordDataset(files).map(decode_record, num_parallel_calls=auto).batch(chunk)
        start = 0
        with tf.device("/cpu:0"):  # the tf.data maps that read it run on the CPU
            for images, labels in decoded.prefetch(1):
                if start == 0:
                    height, width = images.shape[1:3]
                    if transposed and height != width:
                        raise ValueError(f"transposed copies need square images, not {height}x{width}")
                    rows = 2 * self.n if transposed else self.n
                    self.images = tf.Variable(tf.zeros([rows, height, width, 3], tf.uint8), trainable=False)
                    self.labels = tf.Variable(tf.zeros([rows, height, width, 1], tf.uint8), trainable=False)
                self._put(start, images, labels)
                if transposed:
                    self._put(self.n + start, tf.transpose(images, [0, 2, 1, 3]), tf.transpose(labels, [0, 2, 1, 3]))
                start += int(images.shape[0])

    def _put(self, start: int, images, labels) -> None:
        rows = tf.range(start, start + int(images.shape[0]))
        self.images.scatter_update(tf.IndexedSlices(images, rows))  # in place, row by row
        self.labels.scatter_update(tf.IndexedSlices(labels, rows))

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.images.shape)) + int(np.prod(self.labels.shape))

    def batch_to_float(self, indices, group: list | tuple, offset):
        """Pairs ``indices`` (a batch of known size) transformed and converted as the module's
        :func:`batch_to_float` does; positions whose transform transposes read the stored transposed
        copy when there is one, and only flip it."""
        group = tuple(tuple(bool(f) for f in t) for t in group)
        rows = indices
        if self.transposed and any(t[0] for t in group):
            which = tf.constant(position_transforms(int(indices.shape[0]), len(group), 0))
            stored = tf.constant([self.n if t[0] else 0 for t in group], indices.dtype)
            rows = indices + tf.gather(stored, (which + offset) % len(group))
            group = tuple((False, lr, ud) for _, lr, ud in group)
        return batch_to_float(tf.gather(self.images, rows), tf.gather(self.labels, rows), group, offset)


def make_dataset(files: list[str], batch_size: int, training: bool, augment: dict | None = None,
                 n_items: int = 1, seed: int = 0, cache_decoded: bool = True, store_transposed: bool | None = None):
    """Batches of (image, target) from TFRecord shards.

    Training with ``cache_decoded``: the decoded uint8 pairs are loaded into a :class:`PairStore`
    (``n x size^2 x 4`` bytes; twice that with its transposed copies, which ``store_transposed``
    asks for and ``None`` means: when the augmentation rotates by 90 degrees). Each epoch shuffles
    the pair indices; each batch gathers its pairs and flips/rotates and converts them in one pass
    (:meth:`PairStore.batch_to_float`). Without ``cache_decoded`` only the serialised records are
    kept (``n_items`` of them, the shuffle buffer) and each step decodes its PNGs again before the same
    batch pass (:func:`batch_to_float`). Then arbitrary-angle rotation and colour jitter, pair by pair,
    as ``augment`` says. Validation batches (cached decoded, or decoded at every step) are converted only.
    """
    auto = tf.data.AUTOTUNE
    aug = augmentation.resolve(augment)
    input_jit()  # settled before any map function is traced
    group = augmentation.dihedral_group(aug)

    def offset():
        return tf.random.uniform([], 0, len(group), dtype=tf.int32) if len(group) > 1 else 0

    if training and cache_decoded:
        transposed = any(t[0] for t in group) and store_transposed is not False
        store = PairStore(files, transposed)
        ds = tf.data.Dataset.range(store.n).shuffle(store.n, seed=seed, reshuffle_each_iteration=True).repeat()
        ds = ds.batch(batch_size, drop_remainder=True)
        ds = ds.map(lambda indices: store.batch_to_float(indices, group, offset()), num_parallel_calls=auto)
    else:
        ds = tf.data.TFRecordDataset(files)
        ds = ds.map(decode_record, num_parallel_calls=auto).cache() if cache_decoded else ds.cache()
        if not training:
            if not cache_decoded:
                ds = ds.map(decode_record, num_parallel_calls=auto)
            return ds.batch(batch_size).map(batch_to_float, num_parallel_calls=auto).prefetch(auto)
        ds = ds.shuffle(max(n_items, 1), seed=seed, reshuffle_each_iteration=True).repeat()
        ds = ds.map(decode_record, num_parallel_calls=auto).batch(batch_size, drop_remainder=True)
        ds = ds.map(lambda images, labels: batch_to_float(images, labels, group, offset()), num_parallel_calls=auto)
    if augmentation.per_pair_ops(aug):
        ds = ds.unbatch().map(lambda i, t: augmentation.rotate_and_jitter(i, t, aug), num_parallel_calls=auto)
        ds = ds.batch(batch_size, drop_remainder=True)
    return ds.prefetch(auto)


OPTIMIZERS = {
    "adam": lambda lr, cfg: keras.optimizers.Adam(learning_rate=lr),
    "adamw": lambda lr, cfg: keras.optimizers.AdamW(learning_rate=lr, weight_decay=cfg["weight_decay"]),
    "sgd": lambda lr, cfg: keras.optimizers.SGD(learning_rate=lr, momentum=cfg["momentum"], nesterov=True),
    "rmsprop": lambda lr, cfg: keras.optimizers.RMSprop(learning_rate=lr),
}


class _ResumedEarlyStopping(keras.callbacks.EarlyStopping):
    """EarlyStopping that starts from the best value and wait count of a resumed history."""

    def __init__(self, history: "pd.DataFrame | None", **kwargs):
        super().__init__(**kwargs)
        self._history = history

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self._history is not None and self.monitor in self._history:
            values = self._history[self.monitor].to_numpy()
            best_at = int(values.argmin() if self.monitor_op == np.less else values.argmax())
            self.best, self.wait = float(values[best_at]), len(values) - 1 - best_at


def _read_history(path: Path) -> "pd.DataFrame | None":
    """The CSV history so far, one row per epoch (a row repeated by a resumed epoch: the last wins)."""
    if not path.exists() or path.stat().st_size == 0:
        return None
    frame = pd.read_csv(path)
    return frame.drop_duplicates("epoch", keep="last").sort_values("epoch").reset_index(drop=True)


def configure_devices(train_cfg: dict) -> tuple[bool, bool]:
    """Mixed precision and XLA: on when a GPU is visible and the config says ``auto`` or true."""
    gpu = bool(tf.config.list_physical_devices("GPU"))
    mixed = train_cfg["mixed_precision"] is True or (train_cfg["mixed_precision"] == "auto" and gpu)
    xla = train_cfg["xla"] is True or (train_cfg["xla"] == "auto" and gpu)
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")
    return mixed, xla


def is_xla_compile_error(exc: Exception) -> bool:
    """Whether ``exc`` is XLA refusing to compile a graph (an op without an XLA kernel)."""
    text = str(exc)
    return "tf2xla conversion failed" in text or ("XLA" in text and "unsupported operations" in text)


def xla_failure_reason(exc: Exception) -> str:
    """The unsupported operation(s) XLA named, or the first line of the message."""
    text = str(exc)
    marker = "Detected unsupported operations when trying to compile graph"
    if marker in text:
        after = text.split(marker, 1)[1]
        return after.split(":", 1)[1].split("(", 1)[0].strip() if ":" in after else after[:200]
    return text.strip().splitlines()[0][:200] if text.strip() else type(exc).__name__


def fit_fold(train_files: list[str], val_files: list[str], n_train: int, model_cfg: dict, train_cfg: dict,
             image_size: int, work_dir: str, seed: int = 0, n_classes: int = 1, fingerprint: str = ""):
    """Train one fold; the best model (by ``train_cfg['monitor']``) lands in ``work_dir/model.h5``.

    An epoch is one pass over the training images but at least ``min_steps_per_epoch``
    batches: on small data sets BatchNorm's moving statistics need that many updates before
    validation scores mean anything, and early stopping would otherwise fire too soon.

    Resumable: ``work_dir`` keeps a backup of the last completed epoch (weights, optimizer,
    epoch counter), the history and the best checkpoint. A job killed and started again
    with the same ``fingerprint`` (configuration and data) continues where it stopped; with
    another fingerprint it starts over. With ``warmup_epochs`` the encoder is frozen for
    those epochs, then unfrozen for the rest. Returns the paths of the best model (saved
    without optimizer state) and of the CSV history.
    """
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    best, history_csv, state = work / "best.h5", work / "history.csv", work / "state.json"
    previous = json.loads(state.read_text()) if state.exists() else {}
    if previous.get("fingerprint") != fingerprint:
        shutil.rmtree(work)
        work.mkdir(parents=True)
        previous = {}
    atomic.write_json(state, {**previous, "fingerprint": fingerprint})
    history = _read_history(history_csv)
    if history is not None:
        log.info("resuming: %d epochs already done (last %d)", len(history), int(history["epoch"].max()))
    mixed, xla = configure_devices(train_cfg)
    log.info("mixed precision %s, XLA %s", "on" if mixed else "off", "on" if xla else "off")

    batch = train_cfg["batch_size"]
    # Keep decoded pairs in memory when they fit the budget (and their transposed copies, which
    # spare the 90-degree rotations a transpose, when twice that fits); otherwise decode every step.
    aug = augmentation.resolve(train_cfg.get("augment"))
    cache = memory.pair_cache(n_train, image_size, train_cfg["cache_mb"], aug["rot90"])
    log.info("decoded training pairs (%.0f MB) %s (cache_mb %d)", memory.pairs_mb(n_train, image_size),
             "decoded at every step" if not cache.keep else
             "kept in memory with transposed copies" if cache.transposed else "kept in memory", train_cfg["cache_mb"])
    log.info("augmentation: %s; batches transformed and converted %s", augmentation.describe(train_cfg.get("augment")),
             "in one XLA-compiled pass" if input_jit() else "without XLA (it failed here)")
    train_ds = make_dataset(train_files, batch, True, train_cfg.get("augment"), n_train, seed,
                            cache_decoded=cache.keep, store_transposed=cache.transposed)
    val_ds = make_dataset(val_files, batch, False, cache_decoded=cache.keep)
    n_out = n_outputs(n_classes)
    model = build_model(model_cfg, image_size, n_out)
    warmup = train_cfg["warmup_epochs"]

    use_xla = [xla]  # switched off for good if XLA cannot compile this model's training step

    def compile_model():
        model.compile(optimizer=OPTIMIZERS[train_cfg["optimizer"]](train_cfg["learning_rate"], train_cfg),
                      loss=make_loss(train_cfg["loss"], n_out, IGNORE),
                      metrics=make_metrics(train_cfg["threshold"], n_out, IGNORE), jit_compile=use_xla[0])

    monitor = train_cfg["monitor"]
    mode = "min" if monitor.endswith("loss") else "max"
    steps = max(math.ceil(n_train / batch), train_cfg["min_steps_per_epoch"])

    def callbacks(phase: str) -> list:
        checkpoint = keras.callbacks.ModelCheckpoint(str(best), monitor=monitor, mode=mode, save_best_only=True)
        done = _read_history(history_csv)
        if done is not None and monitor in done and best.exists():
            checkpoint.best = float(done[monitor].min() if mode == "min" else done[monitor].max())
        return [
            checkpoint,
            _ResumedEarlyStopping(done, monitor=monitor, mode=mode, patience=train_cfg["early_stopping_patience"]),
            keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=train_cfg["reduce_lr_factor"],
                                              patience=train_cfg["reduce_lr_patience"],
                                              min_lr=train_cfg["min_learning_rate"]),
            keras.callbacks.CSVLogger(str(history_csv), append=True),
            # After the CSV row: a kill between the two repeats the epoch (deduplicated), never skips one.
            keras.callbacks.BackupAndRestore(str(work / f"backup-{phase}")),
        ]

    def fit(first_epoch: int, last_epoch: int, phase: str):
        run = lambda: model.fit(train_ds, steps_per_epoch=steps, initial_epoch=first_epoch, epochs=last_epoch,  # noqa: E731
                                validation_data=val_ds, callbacks=callbacks(phase), verbose=2)
        try:
            run()
        except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError) as exc:
            if not (use_xla[0] and is_xla_compile_error(exc)):
                raise
            # XLA lacks some gradients (UpSampling2D's ResizeNearestNeighborGrad, TensorFlow issue
            # 60203) on CPU and GPU alike. The failure comes from compiling the first step, before
            # any update, callback row or backup: recompile without XLA and train the same epochs.
            log.warning("XLA cannot compile this model's training step (%s); training without XLA",
                        xla_failure_reason(exc))
            use_xla[0] = False
            compile_model()
            run()

    if warmup:
        set_encoder_trainable(model, False)
        warm = work / "warmup_done.h5"  # legacy HDF5 weights (a ".weights.h5" name means Keras 3's format)
        if not warm.exists():
            compile_model()
            fit(0, warmup, "warmup")
            model.save_weights(str(work / "warmup_partial.h5"))
            os.replace(work / "warmup_partial.h5", warm)
        else:
            model.load_weights(str(warm))
        set_encoder_trainable(model, True)
    compile_model()
    fit(warmup, train_cfg["epochs"], "main")

    final = work / "model.h5"
    keras.mixed_precision.set_global_policy("float32")
    if mixed:
        # The same architecture in float32 with the best weights (kept in float32 throughout):
        # prediction on a CPU and the TFLite converter get a plain float32 model.
        plain = build_model(model_cfg, image_size, n_out)
        plain.load_weights(str(best))
        plain.save(final, include_optimizer=False)
    else:
        keras.models.load_model(best, compile=False).save(final, include_optimizer=False)
    atomic.write_csv(history_csv, _read_history(history_csv))
    return final, history_csv
