"""The per-fold fit: resumable training of one fold (warm-up, main phase, XLA fallback) and the model export."""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from .. import atomic
from . import augment as augmentation
from ..data.masks import IGNORE
from .devices import configure_devices, is_xla_compile_error, xla_failure_reason
from .losses import make_loss
from .models import build_model, make_metrics, set_encoder_trainable
from .pipeline import fits_cache, make_dataset, n_outputs, pairs_bytes
from .recipe import cached_pixels, model_side, side_key
from .supervision import for_training, main_output_metrics, supervised_loss
from ..tfenv import keras, tf

log = logging.getLogger("snakeseg")

OPTIMIZERS = {
    "adam": lambda lr, cfg: keras.optimizers.Adam(learning_rate=lr),
    "adamw": lambda lr, cfg: keras.optimizers.AdamW(learning_rate=lr, weight_decay=cfg["weight_decay"]),
    "sgd": lambda lr, cfg: keras.optimizers.SGD(learning_rate=lr, momentum=cfg["momentum"], nesterov=True),
    "rmsprop": lambda lr, cfg: keras.optimizers.RMSprop(learning_rate=lr),
}

#: Validation batches are this many training batches: a forward pass keeps no activations for the
#: gradient, and on a CPU each batch has a large fixed cost (bench/README, "Validation batches").
VAL_BATCH_FACTOR = 4


def compile_model(model, cfg: dict, n_out: int, xla: bool, deep_supervision: bool = False) -> None:
    """Optimizer from ``train.optimizer``, loss and metrics leaving IGNORE pixels out, XLA if asked;
    for a :func:`supervised_model` the loss covers every head and the metrics the main output."""
    loss, metrics = make_loss(cfg["loss"], n_out, IGNORE), make_metrics(cfg["threshold"], n_out, IGNORE)
    if deep_supervision:
        loss, metrics = supervised_loss(loss, n_out), main_output_metrics(metrics, n_out)
    model.compile(optimizer=OPTIMIZERS[cfg["optimizer"]](cfg["learning_rate"], cfg), loss=loss, metrics=metrics,
                  jit_compile=xla)


def poly_learning_rate(epoch: int, epochs: int, initial: float, floor: float = 0.0, exponent: float = 0.9) -> float:
    """nnU-Net's polynomial decay: ``initial`` at epoch 0, falling towards zero at the last epoch (not below ``floor``)."""
    return max(floor, initial * (1 - epoch / epochs) ** exponent)


def validation_epochs(first_epoch: int, last_epoch: int, every: int) -> list[int]:
    """The epochs (1-based, as Keras' ``validation_freq`` counts) of ``first_epoch`` .. ``last_epoch - 1``
    that validate: every ``every``-th and the last."""
    return [e for e in range(first_epoch + 1, last_epoch + 1) if e % every == 0 or e == last_epoch]


def validations(epochs: int, every: int) -> int:
    """A patience of ``epochs`` epochs counted in validations (at least one)."""
    return max(1, math.ceil(epochs / every))


class ValidatedCheckpoint(keras.callbacks.ModelCheckpoint):
    """ModelCheckpoint that passes over epochs without validation instead of warning, and saves to a
    temporary name renamed into place (a kill while saving leaves the previous best whole)."""

    def __init__(self, filepath: str, **kwargs):
        self.final_path = filepath
        super().__init__(filepath[:-3] + ".partial.h5", **kwargs)  # .h5: the format Keras saves in

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor in (logs or {}):
            super().on_epoch_end(epoch, logs)
            if os.path.exists(self.filepath):
                os.replace(self.filepath, self.final_path)


class ValidatedPlateau(keras.callbacks.ReduceLROnPlateau):
    """ReduceLROnPlateau that only logs the learning rate on epochs without validation."""

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor in (logs or {}):
            super().on_epoch_end(epoch, logs)
        elif logs is not None:
            logs["lr"] = float(keras.backend.get_value(self.model.optimizer.lr))


def learning_rate_callback(cfg: dict):
    """``train.lr_schedule``: poly (nnU-Net's decay over ``train.epochs``) or plateau (reduce on a ``val_loss`` plateau)."""
    if cfg.get("lr_schedule", "poly") == "poly":
        return keras.callbacks.LearningRateScheduler(
            lambda epoch: poly_learning_rate(epoch, cfg["epochs"], cfg["learning_rate"], cfg["min_learning_rate"]))
    return ValidatedPlateau(monitor="val_loss", factor=cfg["reduce_lr_factor"], min_lr=cfg["min_learning_rate"],
                            patience=validations(cfg["reduce_lr_patience"], cfg.get("validation_every", 1)))


def read_history(path: Path) -> pd.DataFrame | None:
    """The CSV history so far, one row per epoch (a row repeated by a resumed epoch: the last wins)."""
    if not path.exists() or path.stat().st_size == 0:
        return None
    try:
        frame = pd.read_csv(path)
    except pd.errors.ParserError as err:  # Keras' CSVLogger of earlier versions, after a warm-up phase
        log.warning("%s: rows of another width left out (%s)", path, err)
        frame = pd.read_csv(path, on_bad_lines="skip")
    return frame.drop_duplicates("epoch", keep="last").sort_values("epoch").reset_index(drop=True)


class HistoryCSV(keras.callbacks.Callback):
    """One row per epoch in ``path``, its columns every epoch's logs (an epoch without validation
    leaves the ``val_*`` ones empty): rewritten whole each epoch, so a warm-up phase, the main phase
    and a resumed run share one header (Keras' CSVLogger fixes its columns at a phase's first epoch)."""

    def __init__(self, path: Path):
        super().__init__()
        self.path = Path(path)

    def on_epoch_end(self, epoch, logs=None):
        row = pd.DataFrame([{"epoch": epoch, **{k: float(v) for k, v in (logs or {}).items()}}])
        done = read_history(self.path)
        atomic.write_csv(self.path, row if done is None else pd.concat([done, row], ignore_index=True))


class ResumedEarlyStopping(keras.callbacks.EarlyStopping):
    """EarlyStopping that starts from the best value and wait count of a resumed history, and counts
    its patience in validations (epochs without one pass)."""

    def __init__(self, history: pd.DataFrame | None, **kwargs):
        super().__init__(**kwargs)
        self._history = history

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self._history is not None and self.monitor in self._history:
            values = self._history[self.monitor].dropna().to_numpy()
            if len(values):
                best_at = int(values.argmin() if self.monitor_op == np.less else values.argmax())
                self.best, self.wait = float(values[best_at]), len(values) - 1 - best_at

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor in (logs or {}):
            super().on_epoch_end(epoch, logs)


class FoldTrainer:
    """One fold's training as named steps, which :meth:`run` takes in order (see :func:`fit_fold`).

    ``work_dir`` holds the state of a resumable run: ``state.json`` (the fingerprint), ``history.csv``,
    ``best.h5`` (the best checkpoint), ``backup-<phase>/`` (the last completed epoch: weights,
    optimizer, epoch counter) and ``warmup_done.h5`` (the weights after the warm-up phase).
    """

    def __init__(self, train_files: list[str], val_files: list[str], n_train: int, model_cfg: dict, train_cfg: dict,
                 recipe: dict | int, work_dir: str, seed: int = 0, n_classes: int = 1, fingerprint: str = "",
                 train_pixels: int = 0, epoch_samples: int = 0):
        if isinstance(recipe, int):  # a side: whole records resized to it
            recipe = {"mode": "resize", "image_size": recipe, "patch_size": None, "normalize": "none"}
        self.train_files, self.val_files, self.n_train = train_files, val_files, n_train
        self.model_cfg, self.cfg, self.recipe = model_cfg, train_cfg, recipe
        self.image_size = model_side(recipe)
        self.size_key = side_key(recipe)
        self.cache_pixels = cached_pixels(recipe, n_train, train_pixels)
        self.seed, self.fingerprint = seed, fingerprint
        self.n_out = n_outputs(n_classes)
        self.work = Path(work_dir)
        self.best, self.history_csv = self.work / "best.h5", self.work / "history.csv"
        self.monitor = train_cfg["monitor"]
        self.every = train_cfg.get("validation_every", 1)  # epochs between validations (and the last)
        self.mode = "min" if self.monitor.endswith("loss") else "max"
        # At least min_steps_per_epoch batches an epoch: BatchNorm's moving statistics need the updates.
        self.epoch_samples = epoch_samples or n_train  # patches an epoch draws (patches.epoch_draws)
        self.steps = max(math.ceil(self.epoch_samples / train_cfg["batch_size"]), train_cfg["min_steps_per_epoch"])
        self.mixed = self.xla = False
        self.deep_supervision = False  # train.deep_supervision, resolved for the model by network()
        self.model = self.train_ds = self.val_ds = None

    def prepare_workdir(self) -> None:
        """Keep the work folder of an earlier run with the same fingerprint (to resume it), else empty it."""
        self.work.mkdir(parents=True, exist_ok=True)
        state = self.work / "state.json"
        previous = json.loads(state.read_text()) if state.exists() else {}
        if previous.get("fingerprint") != self.fingerprint:
            shutil.rmtree(self.work)
            self.work.mkdir(parents=True)
            previous = {}
        atomic.write_json(state, {**previous, "fingerprint": self.fingerprint})
        history = read_history(self.history_csv)
        if self.finished():
            log.info("training finished in an earlier run (%d epochs): exporting its best model", len(history))
        elif history is not None:
            log.info("resuming: %d epochs already done (last %d)", len(history), int(history["epoch"].max()))

    def finished(self) -> bool:
        """Whether an earlier run with this fingerprint trained every epoch (or stopped early): Keras
        deletes its epoch backup then, so a rerun (model.h5 deleted, --forcerun) would start over."""
        return (self.work / "finished").exists() and self.best.exists()

    def configure(self) -> None:
        """Mixed precision and XLA as ``train.mixed_precision`` / ``train.xla`` and the devices say."""
        self.mixed, self.xla = configure_devices(self.cfg)
        policy = keras.mixed_precision.global_policy().compute_dtype
        log.info("mixed precision %s, XLA %s", f"on ({policy})" if self.mixed else "off",
                 "on" if self.xla else "off")

    def datasets(self) -> tuple:
        """Training and validation data sets; decoded pairs are kept in memory when the training pairs fit
        ``train.cache_mb`` (the validation pairs then too), else decoded at every step."""
        cache = fits_cache(self.cache_pixels, self.cfg["cache_mb"])
        log.info("decoded training pairs (%.0f MB) %s (cache_mb %d)", pairs_bytes(self.cache_pixels) / 1e6,
                 "kept in memory" if cache else "decoded at every step", self.cfg["cache_mb"])
        log.info("training on %s", describe_recipe(self.recipe))
        augment = dict(self.cfg.get("augment") or {})
        if self.recipe["mode"] != "native":  # scaling acts where native patches are cut
            augment["scale"] = 0
        log.info("augmentation: %s", augmentation.describe(augment))
        batch = self.cfg["batch_size"]
        train = make_dataset(self.train_files, batch, True, augment, self.epoch_samples, self.seed,
                             cache_decoded=cache, recipe=self.recipe)
        return train, make_dataset(self.val_files, VAL_BATCH_FACTOR * batch, False, cache_decoded=cache,
                                   recipe=self.recipe)

    def compile(self) -> None:
        """(Re)compile the model (after the encoder is frozen or unfrozen, or without XLA)."""
        compile_model(self.model, self.cfg, self.n_out, self.xla, self.deep_supervision)

    def callbacks(self, phase: str) -> list:
        """Checkpoint of the best model, early stopping (if a patience is set), LR schedule, CSV history
        and the epoch backup, the first two resumed from the history so far."""
        checkpoint = ValidatedCheckpoint(str(self.best), monitor=self.monitor, mode=self.mode, save_best_only=True)
        done = read_history(self.history_csv)
        if done is not None and self.monitor in done and self.best.exists():
            checkpoint.best = float(done[self.monitor].min() if self.mode == "min" else done[self.monitor].max())
        cfg = self.cfg
        patience = cfg.get("early_stopping_patience")  # None: every epoch, as nnU-Net
        stopping = [ResumedEarlyStopping(done, monitor=self.monitor, mode=self.mode,
                                         patience=validations(patience, self.every))] if patience else []
        return [
            checkpoint,
            *stopping,
            learning_rate_callback(cfg),
            HistoryCSV(self.history_csv),
            # After the CSV row: a kill between the two repeats the epoch (deduplicated), never skips one.
            keras.callbacks.BackupAndRestore(str(self.work / f"backup-{phase}")),
        ]

    def fit_phase(self, first_epoch: int, last_epoch: int, phase: str) -> None:
        """Epochs ``first_epoch`` .. ``last_epoch - 1`` of the compiled model; without XLA if it cannot compile."""
        def fit():
            self.model.fit(self.train_ds, steps_per_epoch=self.steps, initial_epoch=first_epoch, epochs=last_epoch,
                           validation_data=self.val_ds, callbacks=self.callbacks(phase), verbose=2,
                           validation_freq=validation_epochs(first_epoch, last_epoch, self.every))
        try:
            fit()
        except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError) as exc:
            if not (self.xla and is_xla_compile_error(exc)):
                raise
            # XLA lacks some gradients (UpSampling2D's ResizeNearestNeighborGrad, TensorFlow issue 60203).
            # The failure comes from compiling the first step, before any update, callback row or backup:
            # recompile without XLA (for the rest of the fold) and train the same epochs.
            log.warning("XLA cannot compile this model's training step (%s); training without XLA",
                        xla_failure_reason(exc))
            self.xla = False
            self.compile()
            fit()

    def warmup(self) -> None:
        """The first ``warmup_epochs`` with the encoder frozen (or their saved weights), then unfreeze it."""
        set_encoder_trainable(self.model, False)
        done = self.work / "warmup_done.h5"  # legacy HDF5 weights (a ".weights.h5" name means Keras 3's format)
        if done.exists():
            self.model.load_weights(str(done))
        else:
            self.compile()
            self.fit_phase(0, self.cfg["warmup_epochs"], "warmup")
            partial = self.work / "warmup_partial.h5"
            self.model.save_weights(str(partial))
            os.replace(partial, done)
        set_encoder_trainable(self.model, True)

    def network(self):
        """The configured network, wrapped in its deep-supervision heads for training if asked."""
        plain = build_model(self.model_cfg, self.image_size, self.n_out, self.size_key)
        trained, self.deep_supervision = for_training(plain, self.cfg.get("deep_supervision", False), self.n_out)
        return plain, trained

    def export_best(self) -> Path:
        """The best checkpoint as ``model.h5``, float32, without optimizer state or deep-supervision heads."""
        final = self.work / "model.h5"
        keras.mixed_precision.set_global_policy("float32")
        if self.mixed or self.deep_supervision:
            # The same architecture in float32 with the best weights (kept in float32 throughout):
            # prediction on a CPU and the TFLite converter get a plain float32 model.
            plain, trained = self.network()
            trained.load_weights(str(self.best))
            plain.save(final, include_optimizer=False)
        else:
            keras.models.load_model(self.best, compile=False).save(final, include_optimizer=False)
        return final

    def run(self) -> tuple[Path, Path]:
        """All steps: work folder, devices, data, model, warm-up, main phase, export; (model.h5, history.csv)."""
        self.prepare_workdir()
        self.configure()
        if not self.finished():
            self.train_ds, self.val_ds = self.datasets()
            self.model = self.network()[1]
            log.info("deep supervision %s", "on (heads at 1/2, 1/4, 1/8)" if self.deep_supervision else "off")
            warmup = self.cfg["warmup_epochs"]
            if warmup:
                self.warmup()
            self.compile()
            self.fit_phase(warmup, self.cfg["epochs"], "main")
            atomic.write_text(self.work / "finished", "")
        else:
            self.network()  # resolves deep supervision for the export
        final = self.export_best()
        atomic.write_csv(self.history_csv, read_history(self.history_csv))
        return final, self.history_csv


def describe_recipe(recipe: dict) -> str:
    """One line for the log: what the network is trained on."""
    if recipe["mode"] == "native":
        return (f"{recipe['patch_size']}-px patches at native resolution ({recipe['foreground_fraction']:.2f} on "
                f"foreground), normalisation {recipe['normalize']}")
    return f"images resized to {recipe['image_size']} px, normalisation {recipe['normalize']}"


def fit_fold(train_files: list[str], val_files: list[str], n_train: int, model_cfg: dict, train_cfg: dict,
             recipe: dict | int, work_dir: str, seed: int = 0, n_classes: int = 1, fingerprint: str = "",
             train_pixels: int = 0, epoch_samples: int = 0):
    """Train one fold; the best model (by ``train_cfg['monitor']``) lands in ``work_dir/model.h5``.

    An epoch is one pass over the training images (``epoch_samples`` patches, where large images give
    several; default ``n_train``) but at least ``min_steps_per_epoch`` batches: on
    small data sets BatchNorm's moving statistics need that many updates before validation scores
    mean anything, and early stopping would otherwise fire too soon.

    Resumable: a job killed and started again with the same ``fingerprint`` (configuration and data)
    continues from the last completed epoch; with another fingerprint it starts over. With
    ``warmup_epochs`` the encoder is frozen for those epochs, then unfrozen for the rest. Returns the
    paths of the best model (float32, saved without optimizer state) and of the CSV history.
    ``recipe`` is :func:`snakeseg.training.recipe.training_recipe`'s, or a side: records resized to it.
    """
    return FoldTrainer(train_files, val_files, n_train, model_cfg, train_cfg, recipe, work_dir, seed,
                       n_classes, fingerprint, train_pixels, epoch_samples).run()
