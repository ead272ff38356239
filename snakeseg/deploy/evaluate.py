"""A fold's Keras model and TFLite variants side by side on its out-of-fold images: per-image Dice, speed."""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np
import pandas as pd

from ..evaluation.metrics import label_scores
from ..inference.predict import batched
from ..inference.predictor import Predictor
from . import latency, tables
from .convert import Conversion
from .runtime import TFLiteModel

PredictBatch = Callable[[np.ndarray], np.ndarray]


def score_models(runners: dict[str, PredictBatch], items: Iterable, recipe: dict, whole: bool, threshold: float,
                 classes: list[str], fold: int, batch_size: int = 8) -> tuple[pd.DataFrame, dict[str, float]]:
    """Each model (``runners``: name -> prediction callable) through the same Predictor (whole
    images, or windows of the training side; no TTA) on ``items`` (``(item, image, truth)`` of
    :func:`snakeseg.data.items.iter_items`): the per-image Dice table (``dice_float``,
    ``dice_<variant>``) and each model's prediction seconds (after a warm-up)."""
    predictors = {name: Predictor([run], recipe, batch_size=batch_size, whole_images=whole)
                  for name, run in runners.items()}
    watches = {name: latency.Stopwatch() for name in runners}
    side = recipe["patch_size"]
    # Two sizes and batch sizes: Keras' tf.function then holds one trace for any batch (reduce_retracing),
    # so no model's timing includes tracing.
    warm_up = [np.zeros((side, side, 3), np.uint8)] + [np.zeros((side + 32, side + 64, 3), np.uint8)] * 2
    for predictor in predictors.values():
        predictor.probabilities(warm_up)
    rows = []
    for batch in batched(items, batch_size, image_of=lambda x: x[1]):
        images = [image for _, image, _ in batch]
        labels = {}
        for name, predictor in predictors.items():
            with watches[name]:
                labels[name] = predictor.labels(images, threshold)
        for k, (item, _, truth) in enumerate(batch):
            rows.append({"fold": fold, "id": item["id"], **{
                tables.dice_column(name): label_scores(truth, labels[name][k], classes)["dice"] for name in runners}})
    return pd.DataFrame(rows), {name: watch.seconds for name, watch in watches.items()}


def variant_records(fold: int, conversions: list[Conversion], runners: dict[str, PredictBatch], keras_bytes: int,
                    side: int, channels: int, threads: int, runs: int, n_images: int,
                    seconds: dict[str, float]) -> pd.DataFrame:
    """The fold's variants table: the Keras row (latency at the job's threads only: TensorFlow's
    thread pool is fixed when it starts) and one per variant, with the median latency of one patch
    of the training side at 1 thread and at ``threads`` and the images per second of
    :func:`score_models`; a failed conversion's row holds its reason."""
    patch = np.random.default_rng(0).normal(size=(1, side, side, channels)).astype(np.float32)
    keras = latency.median_latency(runners[tables.KERAS], patch, runs)
    records = [tables.variant_record(fold, tables.KERAS, "model.h5", keras_bytes, "", side, float("nan"), keras,
                                     threads, n_images, seconds[tables.KERAS])]
    for c in conversions:
        if c.content is None:
            records.append(tables.variant_record(fold, c.variant, "", None, c.error, side, float("nan"),
                                                 float("nan"), threads, 0, 0.0, c.seconds))
            continue
        one = latency.median_latency(TFLiteModel(c.content, threads=1).predict, patch, runs)
        many = latency.median_latency(runners[c.variant], patch, runs)
        records.append(tables.variant_record(fold, c.variant, f"model_{c.variant}.tflite", len(c.content), "", side,
                                             one, many, threads, n_images, seconds[c.variant], c.seconds))
    return tables.variants_table(records)
