"""TFLite variants (dynamic range, float16, int8), int8 calibration from training shards, SavedModel export."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator, NamedTuple

import numpy as np

from ..errors import InputError
from ..workflow.folds import split_fold

#: The variants, in the order tables and plots list them (``quantize.variants``).
VARIANTS = ("dynamic_range", "float16", "int8")
#: Share of calibration patches placed on foreground, as training draws its patches.
CALIBRATION_FOREGROUND = 1 / 3


class Conversion(NamedTuple):
    variant: str
    content: bytes | None  # the flatbuffer; None when the converter failed
    error: str  # the converter's reason, "" when it succeeded
    seconds: float


def deployable(model):
    """``(network, whole)``: the model with an input of any height and width when it is fully
    convolutional (``whole``), else itself at its fixed side (PSPNet's pooling)."""
    from ..inference.predictor import _any_size, _fixed_size

    if _fixed_size([layer.name for layer in model.layers]):
        return model, False
    return _any_size(model), True


def convert_variant(model, variant: str, calibration: Callable[[], Iterator[np.ndarray]] | None = None,
                    int8_io: str = "float") -> bytes:
    """One variant's flatbuffer, from a Keras model or a SavedModel folder (:func:`export_savedmodel`).
    ``calibration`` yields the int8 variant's float patches (H x W x C)."""
    from ..tfenv import tf

    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}: one of {', '.join(VARIANTS)}")
    if isinstance(model, (str, Path)):
        converter = tf.lite.TFLiteConverter.from_saved_model(str(model))
    else:
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "int8":
        if calibration is None:
            raise ValueError("the int8 variant needs calibration patches")
        converter.representative_dataset = lambda: ([x[None].astype(np.float32)] for x in calibration())
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if int8_io == "int8":
            converter.inference_input_type = converter.inference_output_type = tf.int8
    return converter.convert()


def convert_dynamic_range(model) -> bytes:
    """Weights stored as int8, activations float: the TFLite 'dynamic range' recipe."""
    return convert_variant(model, "dynamic_range")


def convert_all(model, variants: list[str], calibration=None, int8_io: str = "float",
                savedmodel: str | Path | None = None) -> list[Conversion]:
    """Every variant of ``model``; one the converter rejects (an unsupported operation, an exception)
    comes back with its reason and no content, and the others are still converted. The model is
    exported once, as the SavedModel ``savedmodel`` (written even without variants; else a temporary
    one), and every variant converted from it: converting the Keras model exports it for each."""
    out = []
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(savedmodel or Path(scratch) / "savedmodel")
        if variants or savedmodel:
            export_savedmodel(model, source)
        for variant in variants:
            start = time.perf_counter()
            try:
                content, error = convert_variant(source, variant, calibration, int8_io), ""
            except Exception as exc:  # noqa: BLE001 - any converter failure is reported, not raised
                content, error = None, _reason(exc)
            out.append(Conversion(variant, content, error, time.perf_counter() - start))
    return out


def _reason(exc: Exception) -> str:
    """The converter's message on one line: its first lines naming an error, else its first line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    named = [line for line in lines if "error" in line.lower() or "not supported" in line.lower()]
    text = " | ".join((named or lines or [type(exc).__name__])[:3])
    return f"{type(exc).__name__}: {text}"[:500]


def calibration_patches(tfrecords: list[str], indexes: list[dict], val_shards: set[str], recipe: dict,
                        n: int, seed: int = 0) -> Iterator[np.ndarray]:
    """``n`` float32 network inputs drawn from the training shards of ``tfrecords`` (``indexes[i]``
    is the JSON index of ``tfrecords[i]``; shards in ``val_shards`` are never read), as training
    sees them: native mode a ``patch_size`` patch (a third placed on foreground) normalised with its
    image's statistics, resize mode the ``image_size`` square. Records are visited in file order;
    each chosen record gives its share of the patches."""
    from ..tfenv import tf
    from ..training import patches
    from ..training.pipeline import decode_record, resize_square, to_float

    data = split_fold(tfrecords, indexes, set(val_shards))
    if data.n_train == 0:
        raise InputError("int8 calibration", "the fold has no training records",
                         "use fewer folds or more data, or leave int8 out of quantize.variants")
    rng = np.random.default_rng(seed)
    # Records chosen without replacement while n is at most their number, else each one several times.
    chosen = np.bincount(rng.choice(data.n_train, n, replace=False) if n <= data.n_train
                         else np.arange(n) % data.n_train, minlength=data.n_train)
    mode, native = recipe["normalize"], recipe["mode"] == "native"
    drawn = 0
    for i, record in enumerate(tf.data.TFRecordDataset(data.train_files)):
        if not chosen[i]:
            continue
        whole, labels = decode_record(record)
        if not native:
            whole, labels = resize_square(whole, labels, recipe["image_size"])
        stats = patches.intensity_stats(whole, mode, recipe.get("polarity", "keep"))
        for _ in range(int(chosen[i])):
            pair = (whole, labels)
            if native:
                pair = patches.sample_patch(whole, labels, recipe["patch_size"], CALIBRATION_FOREGROUND,
                                            tf.constant([seed, drawn], tf.int32))
            yield patches.apply_stats(to_float(*pair)[0], stats, mode).numpy()
            drawn += 1


def export_savedmodel(model, path: str | Path) -> None:
    """A TensorFlow SavedModel of ``model`` (its ``serving_default`` signature takes the normalised
    float input, as the TFLite variants do)."""
    from ..tfenv import tf

    signature = tf.function(lambda x: {"probabilities": model(x, training=False)},
                            input_signature=[tf.TensorSpec(model.input_shape, tf.float32, name="image")])
    tf.saved_model.save(model, str(path), signatures={"serving_default": signature})
