"""snakeseg.training.fit: a fold interrupted after an epoch resumes where it stopped; resumed callbacks."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import yaml

from helpers import REPO
from snakeseg.tfenv import keras
from snakeseg.training.fit import (FoldTrainer, ResumedEarlyStopping, fit_fold, learning_rate_callback,
                                   poly_learning_rate, read_history, validation_epochs, validations)
from test_training_pipeline import write_pairs

MODEL = {"arch": "simple_cnn", "filters": 4, "layers": 2}
WITH_ENCODER = {"arch": "mobilenetv2_fcn", "alpha": 0.35, "fcn_filters": [16, 8, 8, 8]}  # for the warm-up


def train_cfg(**changes) -> dict:
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())["train"]
    cfg.update(batch_size=4, min_steps_per_epoch=2, mixed_precision=False, xla=False, early_stopping_patience=20,
               reduce_lr_patience=20, validation_every=1)
    cfg.update(changes)
    return cfg


class Killed(Exception):
    """Stands for the job being killed."""


class KilledAfter(FoldTrainer):
    """A FoldTrainer whose job dies at the end of main-phase epoch ``last`` (0-based), after its CSV row
    and backup were written (the callbacks run in list order)."""

    last = 2

    def callbacks(self, phase: str) -> list:
        trainer = self

        class Kill(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                if phase == "main" and epoch == trainer.last:
                    raise Killed

        return [*super().callbacks(phase), Kill()]


def _interrupt_and_resume(tmp_path, capsys, caplog, model_cfg: dict, size: int, warmup: int):
    """Kill a 5-epoch fold after epoch 2, rerun it with the same fingerprint; (work folder, history before
    and after, final model path)."""
    caplog.set_level(logging.INFO, logger="snakeseg")
    keras.utils.set_random_seed(0)
    shard = str(tmp_path / "s.tfrec")
    write_pairs(shard, 8, np.random.default_rng(0), size=size, n_labels=2)
    work = tmp_path / "work"
    args = ([shard], [shard], 8, model_cfg, train_cfg(epochs=5, warmup_epochs=warmup), size, str(work))
    with pytest.raises(Killed):
        KilledAfter(*args, fingerprint="a").run()
    before = pd.read_csv(work / "history.csv")
    assert before["epoch"].tolist() == [0, 1, 2]
    assert (work / "best.h5").exists() and not (work / "model.h5").exists()
    warm = (work / "warmup_done.h5").stat().st_mtime_ns if warmup else None
    capsys.readouterr()

    final, history = fit_fold(*args, fingerprint="a")
    assert "resuming: 3 epochs already done (last 2)" in caplog.text
    out = capsys.readouterr().out
    assert out.split("Epoch ", 1)[1].startswith("4/5")  # continues with epoch index 3, nothing retrained
    if warmup:
        assert (work / "warmup_done.h5").stat().st_mtime_ns == warm  # the warm-up is not repeated
    after = pd.read_csv(history)
    assert after["epoch"].tolist() == [0, 1, 2, 3, 4]
    pd.testing.assert_frame_equal(after.iloc[:3].reset_index(drop=True), before)
    model = keras.models.load_model(final, compile=False)
    assert model.output_shape == (None, size, size, 1) and not model.optimizer
    # The poly schedule sets every epoch's rate from its index, resumed epochs included.
    expected = [poly_learning_rate(e, 5, 0.001, 1e-5) for e in range(5)]
    np.testing.assert_allclose(after["lr"], expected, rtol=1e-5)
    # Run again once finished (model.h5 deleted, --forcerun): the best model is exported, nothing retrained.
    caplog.clear()
    weights = model.get_weights()
    final, history = fit_fold(*args, fingerprint="a")
    assert "training finished in an earlier run (5 epochs)" in caplog.text and "Epoch " not in capsys.readouterr().out
    assert pd.read_csv(history)["epoch"].tolist() == [0, 1, 2, 3, 4]
    for a, b in zip(weights, keras.models.load_model(final, compile=False).get_weights()):
        np.testing.assert_array_equal(a, b)
    return shard, work


def test_interrupted_fold_resumes_from_its_last_epoch_and_a_new_fingerprint_starts_over(tmp_path, capsys, caplog):
    shard, work = _interrupt_and_resume(tmp_path, capsys, caplog, MODEL, 16, warmup=0)
    caplog.clear()
    (work / "leftover").write_text("of the run with fingerprint a")
    _, history = fit_fold([shard], [shard], 8, MODEL, train_cfg(epochs=2, warmup_epochs=0), 16, str(work),
                          fingerprint="b")
    assert "resuming" not in caplog.text
    assert capsys.readouterr().out.split("Epoch ", 1)[1].startswith("1/2")
    assert pd.read_csv(history)["epoch"].tolist() == [0, 1]
    assert not (work / "leftover").exists()  # the old run's state went with its fingerprint


@pytest.mark.slow
def test_interrupted_fold_with_warmup_resumes_without_repeating_the_warmup(tmp_path, capsys, caplog):
    """Warm-up epoch 0 with the encoder frozen, main epochs 1..4; killed after epoch 2."""
    _interrupt_and_resume(tmp_path, capsys, caplog, WITH_ENCODER, 32, warmup=1)


def test_read_history_keeps_the_last_row_of_a_repeated_epoch(tmp_path):
    path = tmp_path / "history.csv"
    assert read_history(path) is None
    path.write_text("epoch,loss\n0,0.9\n1,0.8\n1,0.7\n2,0.6\n")  # epoch 1 repeated after a kill
    frame = read_history(path)
    assert frame["epoch"].tolist() == [0, 1, 2] and frame["loss"].tolist() == [0.9, 0.7, 0.6]


@pytest.mark.parametrize("monitor,values,best,wait", [("val_iou_score", [0.1, 0.5, 0.3, 0.2], 0.5, 2),
                                                      ("val_loss", [0.9, 0.4, 0.6], 0.4, 1)])
def test_early_stopping_and_checkpoint_resume_from_the_history(tmp_path, monitor, values, best, wait):
    history = pd.DataFrame({"epoch": range(len(values)), monitor: values})
    mode = "min" if monitor.endswith("loss") else "max"
    stop = ResumedEarlyStopping(history, monitor=monitor, mode=mode, patience=3)
    stop.set_model(keras.Sequential([keras.layers.Dense(1)]))
    stop.on_train_begin()
    assert stop.best == best and stop.wait == wait

    trainer = FoldTrainer([], [], 8, MODEL, train_cfg(epochs=5, warmup_epochs=0, monitor=monitor), 16, str(tmp_path))
    tmp_path.mkdir(exist_ok=True)
    history.to_csv(trainer.history_csv, index=False)
    checkpoint = trainer.callbacks("main")[0]
    assert isinstance(checkpoint, keras.callbacks.ModelCheckpoint)
    assert checkpoint.best in (np.inf, -np.inf)  # no best.h5 yet: the history's best is not kept
    trainer.best.write_bytes(b"")
    assert trainer.callbacks("main")[0].best == best


def test_poly_schedule_decays_from_the_initial_rate_to_the_floor_and_plateau_is_kept():
    rates = [poly_learning_rate(e, 35, 0.001, 1e-5) for e in range(35)]
    assert rates[0] == 0.001 and all(a > b for a, b in zip(rates, rates[1:]))
    assert rates[-1] == pytest.approx(0.001 * (1 / 35) ** 0.9) and rates[-1] < 0.05 * rates[0]
    assert poly_learning_rate(34, 35, 0.001, 1e-4) == 1e-4  # never below the floor
    assert isinstance(learning_rate_callback(train_cfg()), keras.callbacks.LearningRateScheduler)
    plateau = learning_rate_callback({**train_cfg(lr_schedule="plateau"), "reduce_lr_patience": 3})
    assert isinstance(plateau, keras.callbacks.ReduceLROnPlateau) and plateau.patience == 3


def test_validation_epochs_are_every_nth_and_the_last_and_patience_counts_validations():
    assert validation_epochs(0, 35, 5) == [5, 10, 15, 20, 25, 30, 35]
    assert validation_epochs(0, 12, 5) == [5, 10, 12]
    assert validation_epochs(7, 12, 5) == [10, 12]  # a resumed phase keeps the same epochs
    assert validation_epochs(0, 4, 1) == [1, 2, 3, 4]
    assert [validations(10, k) for k in (1, 2, 3, 5, 20)] == [10, 5, 4, 2, 1]


@pytest.mark.parametrize("schedule", ["poly", "plateau"])
def test_a_fold_validating_every_second_epoch_scores_those_and_the_last(tmp_path, caplog, schedule):
    keras.utils.set_random_seed(0)
    logging.getLogger("tensorflow").addHandler(caplog.handler)  # Keras' callbacks warn there
    shard = str(tmp_path / "s.tfrec")
    write_pairs(shard, 8, np.random.default_rng(0), size=16, n_labels=2)
    cfg = train_cfg(epochs=5, warmup_epochs=0, validation_every=2, lr_schedule=schedule)
    final, history = fit_fold([shard], [shard], 8, MODEL, cfg, 16, str(tmp_path / "work"))
    frame = pd.read_csv(history)
    assert frame["epoch"].tolist() == [0, 1, 2, 3, 4]
    assert frame["val_iou_score"].notna().tolist() == [False, True, False, True, True]
    assert frame["lr"].notna().all()  # both schedules log every epoch's rate
    logging.getLogger("tensorflow").removeHandler(caplog.handler)
    assert "available" not in caplog.text  # no callback warns about the epochs without validation
    assert keras.models.load_model(final, compile=False).output_shape == (None, 16, 16, 1)


@pytest.mark.parametrize("patience, stops", [(None, False), (10, True)])
def test_early_stopping_is_off_unless_a_patience_is_set(tmp_path, patience, stops):
    trainer = FoldTrainer([], [], 8, MODEL, train_cfg(early_stopping_patience=patience), 16, str(tmp_path))
    assert any(isinstance(c, keras.callbacks.EarlyStopping) for c in trainer.callbacks("main")) == stops


def test_early_stopping_resumes_from_a_history_with_unvalidated_epochs():
    history = pd.DataFrame({"epoch": range(6), "val_loss": [np.nan, 0.5, np.nan, 0.4, np.nan, 0.45]})
    stop = ResumedEarlyStopping(history, monitor="val_loss", mode="min", patience=2)
    stop.set_model(keras.Sequential([keras.layers.Dense(1)]))
    stop.on_train_begin()
    assert stop.best == 0.4 and stop.wait == 1  # one validation since the best, not two epochs
    stop.on_epoch_end(6, {"loss": 0.3})  # an epoch without validation neither waits nor stops
    assert stop.wait == 1 and not stop.model.stop_training


def test_the_history_keeps_one_header_across_phases_with_and_without_validation(tmp_path):
    """A warm-up phase ending on a validated epoch, then a main phase whose first epoch is not
    validated (train.validation_every > 1): Keras' CSVLogger wrote rows wider than its header."""
    from snakeseg.training.fit import HistoryCSV, read_history

    path = tmp_path / "history.csv"
    warmup, main = HistoryCSV(path), HistoryCSV(path)  # one callback per phase, as fit_phase makes
    warmup.on_epoch_end(0, {"loss": 0.9, "lr": 1e-3, "val_loss": 0.8, "val_iou_score": 0.1})
    main.on_epoch_end(1, {"loss": 0.7, "lr": 9e-4})
    main.on_epoch_end(2, {"loss": 0.6, "lr": 8e-4, "val_loss": 0.5, "val_iou_score": 0.4})
    main.on_epoch_end(2, {"loss": 0.55, "lr": 8e-4, "val_loss": 0.5, "val_iou_score": 0.45})  # a resumed epoch
    history = read_history(path)
    assert list(history["epoch"]) == [0, 1, 2] and "val_lr" not in history
    assert np.isnan(history.loc[1, "val_iou_score"]) and history.loc[2, "val_iou_score"] == 0.45
    # A file an earlier version left with rows wider than its header is read, not a failure forever.
    path.write_text("epoch,loss,lr\n0,0.9,0.001\n1,0.7,0.0009,0.5\n")
    assert list(read_history(path)["epoch"]) == [0]
