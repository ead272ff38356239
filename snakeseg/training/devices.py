"""Mixed precision and XLA for a training job: when they are on, and telling XLA's compile failures apart."""

from __future__ import annotations

from ..tfenv import keras, machine_policy, tf


def configure_devices(train_cfg: dict) -> tuple[bool, bool]:
    """Mixed precision (:func:`snakeseg.tfenv.machine_policy`: ``auto`` is on with a GPU or a CPU with
    bfloat16 hardware) and XLA (``auto``: on with a GPU). Sets Keras' global dtype policy; returns
    (mixed precision, XLA)."""
    policy = machine_policy(train_cfg["mixed_precision"])
    xla = train_cfg["xla"] is True or (train_cfg["xla"] == "auto" and bool(tf.config.list_physical_devices("GPU")))
    keras.mixed_precision.set_global_policy(policy)
    return policy != "float32", xla


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
