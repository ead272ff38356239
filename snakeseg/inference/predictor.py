"""One prediction path for out-of-fold images, new images and test sets: an experiment's models
(one fold's, or every fold's as an ensemble), test-time augmentation, probabilities at each image's
original size."""

from __future__ import annotations

import logging
from typing import Callable, Iterator

import cv2
import numpy as np

from ..errors import InputError
from ..data.normalize import apply_stats, intensity_stats
from .predict import model_input
from .windows import ensemble, predict_strips, predict_whole, with_tta

log = logging.getLogger("snakeseg")
PredictBatch = Callable[[np.ndarray], np.ndarray]
STRIDE = 32  # every architecture's input must be a multiple of this

#: How an experiment's images reach its network: ``mode`` native (whole images up to ``max_side``,
#: else sliding windows of side ``window``, overlapping by ``overlap`` x ``patch_size``; ``window``
#: "patch" is the training patch) or resize (``image_size`` squares), after
#: rescaling by ``scale`` and with the per-image normalisation ``normalize`` and ``polarity``.
DEFAULT_RECIPE = {"mode": "resize", "image_size": 128, "patch_size": 128, "normalize": "none", "polarity": "keep",
                  "scale": 1.0, "max_side": 2048, "overlap": 0.5, "window": "patch", "bit_depth": "auto",
                  "channels": None}


class Predictor:
    """Probabilities of images at their own size. ``whole_images=False`` is for networks of a fixed
    input size (TFLite, PSPNet): native-mode images then always go through sliding windows."""

    def __init__(self, models: list[PredictBatch], recipe: dict | None = None, tta: str = "none",
                 batch_size: int = 8, whole_images: bool = True):
        self.recipe = {**DEFAULT_RECIPE, **(recipe or {})}
        self.predict_batch = with_tta(ensemble(models), tta)
        self.square = tta == "d4"  # rotations by 90 degrees need square inputs
        self.batch_size, self.whole_images = batch_size, whole_images

    def _scaled_shape(self, image: np.ndarray) -> tuple[int, int]:
        """(height, width) of ``image`` rescaled by ``scale``."""
        scale, (h, w) = self.recipe["scale"], image.shape[:2]
        return (h, w) if scale == 1 else (max(1, round(h * scale)), max(1, round(w * scale)))

    def _rescaled(self, image: np.ndarray) -> np.ndarray:
        if self.recipe["scale"] == 1:
            return image
        h, w = self._scaled_shape(image)
        return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if self.recipe["scale"] < 1 else cv2.INTER_LINEAR)

    def _windowed(self, shape: tuple[int, ...]) -> bool:
        """Whether a (rescaled) image of ``shape`` goes through sliding windows."""
        return not self.whole_images or max(shape[:2]) > self.recipe["max_side"]

    def _strips(self, image: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        """Sliding-window probabilities of a (rescaled) image, band by band, each window normalised
        with the whole image's statistics."""
        mode = self.recipe["normalize"]
        stats = intensity_stats(image, mode, self.recipe["polarity"])
        windows = lambda x: self.predict_batch(apply_stats(x, stats, mode))  # noqa: E731
        return predict_strips(windows, image, self.recipe["patch_size"], self.recipe["overlap"], self.batch_size,
                              self.window_side())

    def window_side(self) -> int:
        """Side of the sliding windows: ``window``, or the training patch for ``"patch"`` and for
        networks of a fixed input size."""
        window = self.recipe["window"]
        return self.recipe["patch_size"] if window == "patch" or not self.whole_images else int(window)

    def _native(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """Probabilities of rescaled images: whole, batched by size, or by sliding windows."""
        mode, out = self.recipe["normalize"], [None] * len(images)
        by_shape: dict[tuple, list[int]] = {}
        for i, image in enumerate(images):
            if self._windowed(image.shape):
                out[i] = np.concatenate([p for _, p in self._strips(image)])
            else:
                by_shape.setdefault(image.shape[:2], []).append(i)
        budget = self.batch_size * self.recipe["patch_size"] ** 2  # pixels of a training batch
        for (h, w), members in by_shape.items():
            n = max(1, budget // (h * w))
            for start in range(0, len(members), n):
                chunk = members[start:start + n]
                x = [apply_stats(images[i], intensity_stats(images[i], mode, self.recipe["polarity"]), mode) for i in chunk]
                for i, p in zip(chunk, predict_whole(self.predict_batch, x, STRIDE, self.square)):
                    out[i] = p
        return out

    def _resized(self, images: list[np.ndarray]) -> list[np.ndarray]:
        out = []
        for start in range(0, len(images), self.batch_size):
            x = model_input(images[start:start + self.batch_size], self.recipe["image_size"], self.recipe["normalize"],
                            self.recipe["polarity"])
            out += list(self.predict_batch(x))
        return out

    def probabilities(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """``H x W x C`` float32 probabilities per RGB uint8 image, at the image's size."""
        scaled = [self._rescaled(image) for image in images]
        probs = self._native(scaled) if self.recipe["mode"] == "native" else self._resized(scaled)
        out = []
        for image, prob in zip(images, probs):
            h, w = image.shape[:2]
            if prob.shape[:2] != (h, w):
                prob = cv2.resize(prob.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
            out.append(prob[..., None] if prob.ndim == 2 else prob.astype(np.float32, copy=False))
        return out

    def segment(self, images: list[np.ndarray], threshold: float) -> list[tuple[np.ndarray, np.ndarray]]:
        """(label map, foreground probability as uint8 0..255) per image, at its size: thresholded
        foreground, or the most probable class. An image predicted by sliding windows is labelled
        strip by strip (its float probabilities at full size are never held whole: a 20,000-px
        slide needs a band of them, not 1.6 GB; at ``scale`` below 1, the rescaled image's)."""
        out: list = [None] * len(images)
        rest = []
        for i, image in enumerate(images):
            if self.recipe["mode"] == "native" and self._windowed(self._scaled_shape(image)):
                out[i] = self._segment_windowed(image, threshold)
            else:
                rest.append(i)
        for i, prob in zip(rest, self.probabilities([images[i] for i in rest])):
            out[i] = _to_labels(prob, threshold)
        return out

    def _segment_windowed(self, image: np.ndarray, threshold: float):
        scaled = self._rescaled(image)
        labels, fg = np.empty(image.shape[:2], np.uint8), np.empty(image.shape[:2], np.uint8)
        height, reported = scaled.shape[0], 0
        probs = []
        for row, band in self._strips(scaled):
            if scaled is image:
                labels[row:row + len(band)], fg[row:row + len(band)] = _to_labels(band, threshold)
            else:
                probs.append(band)
            if (row + len(band)) * 10 // height > reported:  # a slide takes minutes: say how far
                reported = (row + len(band)) * 10 // height
                log.info("%d x %d image: %d%% predicted", image.shape[0], image.shape[1], 10 * reported)
        if scaled is not image:  # back to the image's size a band of rows at a time
            probs = np.concatenate(probs)
            for start in range(0, image.shape[0], 1024):
                stop = min(start + 1024, image.shape[0])
                labels[start:stop], fg[start:stop] = _to_labels(resize_rows(probs, image.shape[:2], start, stop), threshold)
        return labels, fg

    def labels(self, images: list[np.ndarray], threshold: float) -> list[np.ndarray]:
        """The label maps of :meth:`segment`."""
        return [labels for labels, _ in self.segment(images, threshold)]


def resize_rows(probs: np.ndarray, size: tuple[int, int], start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` of ``H x W x C`` probabilities resized to ``size`` (bilinear, pixel centres
    aligned as ``cv2.resize`` aligns them), computed from the source rows they need alone."""
    (h, w), hs = size, probs.shape[0]
    y = np.clip((np.arange(start, stop) + 0.5) * hs / h - 0.5, 0, hs - 1)
    top = np.floor(y).astype(int)
    bottom, weight = np.minimum(top + 1, hs - 1), (y - top).astype(np.float32)[:, None, None]
    first = top[0]
    rows = cv2.resize(probs[first:bottom[-1] + 1], (w, bottom[-1] + 1 - first), interpolation=cv2.INTER_LINEAR)
    rows = rows.reshape(rows.shape[:2] + (probs.shape[-1],))
    return rows[top - first] * (1 - weight) + rows[bottom - first] * weight


def _to_labels(prob: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(label map, foreground probability as uint8) of ``H x W x C`` probabilities."""
    fg = prob[..., 0] if prob.shape[-1] == 1 else 1 - prob[..., 0]
    labels = (fg >= threshold) if prob.shape[-1] == 1 else prob.argmax(-1)
    return labels.astype(np.uint8), np.round(fg * 255).astype(np.uint8)


def keras_models(paths: list[str], policy: str = "float32") -> tuple[list[PredictBatch], int, bool]:
    """The models of ``paths`` (tf-keras HDF5) as prediction callables computing in Keras' dtype
    ``policy``, their training side, and whether they take whole images of any size (fully
    convolutional; PSPNet's pooling is not)."""
    models, sides = zip(*(_load_any_size(p, policy) for p in paths))
    return traced(models), sides[0], models[0].input_shape[1] is None


def keras_callables(models: list) -> tuple[list[PredictBatch], int, bool]:
    """Loaded Keras models as :func:`keras_models` returns them."""
    from ..deploy.convert import deployable

    side = int(models[0].input_shape[1])
    networks, whole = zip(*(deployable(m) for m in models))
    return traced(networks), side, all(whole)


def _fixed_size(layer_names: list[str]) -> bool:
    """Whether a network with these layers only takes its training size: segmentation-models'
    PSPNet pools to sizes fixed when it was built."""
    return any(name.startswith("psp_level") for name in layer_names)


def traced(models) -> list[PredictBatch]:
    """One traced function per model for every batch and image size (a trace per shape, as
    ``model.predict`` makes, costs a prediction job about a second per image size)."""
    from ..tfenv import tf

    calls = [tf.function(lambda x, m=m: tf.cast(m(x, training=False), tf.float32),
                         input_signature=[tf.TensorSpec((None, *m.input_shape[1:]), tf.float32)]) for m in models]
    return [lambda x, f=f: f(tf.constant(x, tf.float32)).numpy() for f in calls]


def _load_any_size(path: str, policy: str = "float32"):
    """``(model, training side)`` of a saved model computing in ``policy``, its input made any height
    and width unless it is fixed-size: built once from the file's config (loading and then cloning
    builds it twice, seconds of every prediction job's start)."""
    import json

    import h5py

    from ..tfenv import keras

    try:
        with h5py.File(path, "r") as f:
            config = json.loads(f.attrs["model_config"])
    except (OSError, KeyError, ValueError) as err:  # truncated by a copy, or not a model saved by train_fold
        raise InputError(str(path), f"cannot be read as a Keras model ({err})",
                         "copy it again from results/models/<exp>/fold-<k>/, or retrain that fold") from None
    inputs = [layer["config"] for layer in config["config"]["layers"] if layer["class_name"] == "InputLayer"]
    side = int(inputs[0]["batch_input_shape"][1])
    if not _fixed_size([layer["config"]["name"] for layer in config["config"]["layers"]]):
        for layer in inputs:
            shape = layer["batch_input_shape"]
            layer["batch_input_shape"] = [shape[0], *[None] * (len(shape) - 2), shape[-1]]
    if policy != "float32":
        _set_policy(config, policy)
    model = keras.models.model_from_config(config)
    model.load_weights(path)
    return model, side


def _set_policy(config: dict, policy: str, top: bool = True) -> None:
    """Every layer of a model config (nested models too) computing in ``policy``; inputs and the
    output activation stay float32 (the probabilities, as in training)."""
    outputs = {name for name, *_ in config["config"]["output_layers"]} if top else set()
    for layer in config["config"]["layers"]:
        if layer["class_name"] != "InputLayer":
            keep = layer["class_name"] == "Activation" and layer["config"]["name"] in outputs
            layer["config"]["dtype"] = "float32" if keep else policy
        if "layers" in layer["config"]:
            _set_policy(layer, policy, top=False)


def _any_size(model):
    """The same network and weights with an input of any height and width."""
    from ..tfenv import keras

    clone = keras.models.clone_model(model, input_tensors=keras.Input((None, None, model.input_shape[-1])))
    clone.set_weights(model.get_weights())
    return clone


def tflite_models(paths: list[str], engine: str, threads: int) -> tuple[list[PredictBatch], int, bool]:
    """The ``engine`` variant (dynamic_range, float16, int8) of each fold, as :func:`keras_models`
    returns Keras models: ``paths`` are the folds' quantize folders
    (``results/quantized/<exp>/fold-<k>/``, holding ``model_<engine>.tflite``) or the files themselves.
    Run with LiteRT; the side is the training side read from the folder's ``variants.csv`` when the
    model takes any size (windows above ``max_side``), else the model's own."""
    from pathlib import Path

    from ..deploy.convert import VARIANTS
    from ..deploy.runtime import TFLiteModel

    models, sides = [], []
    for path in map(Path, paths):
        if path.is_dir() and engine not in VARIANTS:
            raise InputError(str(path), f"is a quantize folder but predict.engine is {engine}",
                             f"set predict.engine to one of {', '.join(VARIANTS)}")
        file = path / f"model_{engine}.tflite" if path.is_dir() else path
        if not file.is_file():
            raise InputError(str(file), f"has no {engine} model: {_missing_reason(path, engine)}",
                             "use another variant that converted for every fold (segment --engine), or the Keras "
                             "models (predict.engine: keras; for segment, results/models/<exp>)")
        model = TFLiteModel(file, threads=threads)
        models.append(model)
        sides.append(model.side or _training_side(path))
    return [m.predict for m in models], sides[0], all(m.whole for m in models)


def _missing_reason(folder, engine: str) -> str:
    """Why a quantize folder has no file of ``engine``: the converter's reason, or not requested."""
    import pandas as pd

    table = folder / "variants.csv"
    if not folder.is_dir():
        return "no such quantize output"
    if not table.is_file():
        return "the folder was made by an earlier snakeseg (no variants.csv); rerun `snakemake -R quantize`"
    rows = pd.read_csv(table, keep_default_na=False)
    rows = rows[rows["variant"] == engine]
    if rows.empty:
        converted = [v for v in pd.read_csv(table)["variant"] if v != "keras"]  # keras: the reference row
        return f"not among the converted variants ({', '.join(converted)}; quantize.variants)"
    if rows["status"].iloc[0] == "ok":
        return "it converted but the file is not in the folder (copied without it?)"
    return f"its conversion failed: {rows['error'].iloc[0]}"


def _training_side(path) -> int:
    """The training side recorded by the quantize job (variants.csv), for the sliding windows."""
    import pandas as pd

    table = (path if path.is_dir() else path.parent) / "variants.csv"
    return int(pd.read_csv(table)["side"].iloc[0]) if table.is_file() else DEFAULT_RECIPE["patch_size"]


def load_predictor(model_paths: list[str], recipe: dict, predict_cfg: dict, threads: int) -> Predictor:
    """A prediction job's Predictor: the models loaded (HDF5 files: in TensorFlow pinned to the job's
    threads, in the precision ``predict.mixed_precision`` picks for this machine; quantize folders or
    .tflite files: the ``predict.engine`` variant with LiteRT, see :func:`tflite_models`), the
    experiment's recipe with the config's ``predict.max_side``, ``overlap``, ``window``, ``tta`` and
    ``batch_size``. The out-of-fold predictions pass HDF5 files whatever the engine; the test set
    and new images pass what the engine names."""
    from pathlib import Path

    if all(str(p).endswith(".h5") and not Path(p).is_dir() for p in model_paths):
        from .. import tfenv

        tfenv.configure(threads, 0)
        policy = tfenv.machine_policy(predict_cfg.get("mixed_precision", "auto"))
        log.info("Keras models computing in %s (predict.mixed_precision)", policy)
        models, side, whole = keras_models(model_paths, policy)
    else:
        models, side, whole = tflite_models(model_paths, predict_cfg.get("engine", "keras"), threads)
    window = predict_cfg.get("window", DEFAULT_RECIPE["window"])  # absent from the settings of earlier versions
    recipe = {**recipe, "patch_size": side, "max_side": predict_cfg["max_side"], "overlap": predict_cfg["overlap"],
              "window": window}
    return Predictor(models, recipe, predict_cfg["tta"], predict_cfg["batch_size"], whole_images=whole)
