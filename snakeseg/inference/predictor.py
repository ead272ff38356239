"""One prediction path for out-of-fold images, new images and test sets: an experiment's models
(one fold's, or every fold's as an ensemble), test-time augmentation, probabilities at each image's
original size."""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

from .predict import model_input, to_labels
from .windows import ensemble, with_tta

PredictBatch = Callable[[np.ndarray], np.ndarray]


class Predictor:
    """Probabilities of images at their own size from models trained on ``image_size`` squares:
    each image is resized as the training records were, the models' mean probability is taken
    under ``tta`` (``none``, ``flips`` or ``d4``), and resized back."""

    def __init__(self, models: list[PredictBatch], image_size: int, tta: str = "none", batch_size: int = 8):
        self.predict_batch = with_tta(ensemble(models), tta)
        self.image_size = image_size
        self.batch_size = batch_size

    def probabilities(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """``H x W x C`` float32 probabilities per RGB uint8 image."""
        out = []
        for start in range(0, len(images), self.batch_size):
            chunk = images[start:start + self.batch_size]
            probs = self.predict_batch(model_input(chunk, self.image_size))
            for image, prob in zip(chunk, probs):
                h, w = image.shape[:2]
                resized = cv2.resize(prob.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
                out.append(resized[..., None] if resized.ndim == 2 else resized)
        return out

    def labels(self, images: list[np.ndarray], threshold: float) -> list[np.ndarray]:
        """Label maps at each image's size: thresholded foreground, or the most probable class."""
        return [to_labels(p, p.shape[0], p.shape[1], threshold) for p in self.probabilities(images)]


def keras_models(paths: list[str]) -> list[PredictBatch]:
    """The models of ``paths`` (tf-keras HDF5) as prediction callables."""
    from ..training.models import load_model

    models = [load_model(p) for p in paths]
    return [lambda x, m=m: m.predict(x, verbose=0) for m in models]


def load_predictor(model_paths: list[str], image_size: int, predict_cfg: dict, threads: int) -> Predictor:
    """A prediction job's Predictor: TensorFlow pinned to the job's threads, the models loaded, the
    config's ``predict.tta`` and ``predict.batch_size``."""
    from .. import tfenv

    tfenv.configure(threads, 0)
    return Predictor(keras_models(model_paths), image_size, predict_cfg["tta"], predict_cfg["batch_size"])
