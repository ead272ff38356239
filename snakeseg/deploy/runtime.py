"""TFLite models run with LiteRT (tf.lite where it is missing): inputs of any size, int8 input/output scaling."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def interpreter_class() -> tuple[type, str]:
    """``(Interpreter, name)``: LiteRT's (``ai_edge_litert``), else ``tf.lite.Interpreter``."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, "litert"
    except ImportError:
        from ..tfenv import tf

        return tf.lite.Interpreter, "tf.lite"


def quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    """Float ``x`` as the tensor's integer type, with its scale and zero point (float tensors: as is)."""
    dtype = np.dtype(detail["dtype"])
    if dtype.kind not in "iu":
        return x.astype(dtype, copy=False)
    scale, zero = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, detail: dict) -> np.ndarray:
    """The float values of an integer tensor (float tensors: as float32)."""
    if np.dtype(detail["dtype"]).kind not in "iu":
        return q.astype(np.float32, copy=False)
    scale, zero = detail["quantization"]
    return ((q.astype(np.float32) - zero) * scale).astype(np.float32)


class TFLiteModel:
    """One TFLite flatbuffer (bytes or a file) as a prediction callable: a batch ``B x H x W x C`` in,
    float probabilities out. The input is resized to each batch's shape (``resize_tensor_input`` +
    ``allocate_tensors``, only when the shape changes): any size for a model converted with an input
    of any size (:attr:`whole`), else batches of windows of its side (:attr:`side`)."""

    def __init__(self, model: bytes | str | Path, threads: int = 1):
        interpreter, self.backend = interpreter_class()
        content = model if isinstance(model, bytes) else Path(model).read_bytes()
        self.interpreter = interpreter(model_content=content, num_threads=threads)
        detail = self.interpreter.get_input_details()[0]
        signature = detail["shape_signature"]
        self.whole = bool(signature[1] == -1 and signature[2] == -1)
        self.side = None if self.whole else int(signature[1])
        self._output = self.interpreter.get_output_details()[0]
        self._input = {**detail, "shape": ()}
        # An any-size model is allocated at its first batch's shape: XNNPACK may not plan its default 1 x 1 px.
        if not self.whole:
            self._fit((1, *detail["shape"][1:]))

    @property
    def input_dtype(self) -> np.dtype:
        return np.dtype(self._input["dtype"])

    def _fit(self, shape: tuple[int, ...]) -> None:
        """Resize the input to ``shape`` (B x H x W x C) when it differs from the allocated one."""
        if tuple(self._input["shape"]) == shape:
            return
        self.interpreter.resize_tensor_input(self._input["index"], list(shape), strict=False)
        self.interpreter.allocate_tensors()
        self._input = self.interpreter.get_input_details()[0]
        self._output = self.interpreter.get_output_details()[0]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Probabilities of a float batch (the normalised network input), in one invocation."""
        self._fit(tuple(x.shape))
        self.interpreter.set_tensor(self._input["index"], quantize(np.ascontiguousarray(x), self._input))
        self.interpreter.invoke()
        return dequantize(self.interpreter.get_tensor(self._output["index"]), self._output)

    __call__ = predict
