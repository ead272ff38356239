"""TFLite conversion with dynamic-range quantization, and running the result."""

from __future__ import annotations

import numpy as np

from ..tfenv import tf


def convert_dynamic_range(model) -> bytes:
    """Weights stored as int8, activations float: the TFLite 'dynamic range' recipe."""
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter.convert()


class TFLiteModel:
    """Runs a TFLite flatbuffer image by image, like a mobile deployment would."""

    def __init__(self, content: bytes, threads: int = 1):
        self.interpreter = tf.lite.Interpreter(model_content=content, num_threads=threads)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.output = self.interpreter.get_output_details()[0]["index"]

    def predict(self, x: np.ndarray) -> np.ndarray:
        out = []
        for sample in x:
            self.interpreter.set_tensor(self.input, sample[None].astype(np.float32))
            self.interpreter.invoke()
            out.append(self.interpreter.get_tensor(self.output)[0])
        return np.stack(out)
