"""The one place TensorFlow is imported: Keras 2 (tf-keras) and segmentation-models' tf.keras mode.

Import this module only from code that needs TensorFlow; it costs seconds.
"""

import os
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("SM_FRAMEWORK", "tf.keras")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402
import segmentation_models as sm  # noqa: E402

__all__ = ["tf", "keras", "sm", "configure", "cpu_has_bf16", "mixed_policy", "machine_policy"]


def configure(threads: int, seed: int) -> None:
    """Pin TensorFlow to the job's threads and make runs repeatable (bit for bit on a CPU)."""
    if threads > 0:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(threads, 2))
    keras.utils.set_random_seed(seed)
    # On a CPU, deterministic kernels make a rerun give the same model. Not on a GPU, where some
    # ops (UpSampling2D's gradient) have no deterministic kernel and would raise.
    if not tf.config.list_physical_devices("GPU"):
        tf.config.experimental.enable_op_determinism()


#: /proc/cpuinfo flags of bfloat16 arithmetic in hardware: Intel AMX tiles (Xeon Sapphire Rapids and
#: later) and AVX-512 BF16 dot products (AMD Zen 4 and later, Intel Cooper Lake).
BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_has_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether the CPU multiplies bfloat16 in hardware (read from Linux's ``/proc/cpuinfo``, False
    elsewhere): oneDNN's convolutions then run faster in bfloat16 than in float32."""
    try:
        flags = set(Path(cpuinfo).read_text().split())
    except OSError:
        return False
    return any(flag in flags for flag in BF16_FLAGS)


def mixed_policy(setting, gpu: bool, bf16_cpu: bool) -> str:
    """Keras' dtype policy for a ``mixed_precision`` setting: float16 compute on a GPU, bfloat16 on a
    CPU (float16 has no fast CPU kernels); ``auto`` turns it on for a GPU, or a CPU when ``bf16_cpu``."""
    on = setting is True or (setting == "auto" and (gpu or bf16_cpu))
    if not on:
        return "float32"
    return "mixed_float16" if gpu else "mixed_bfloat16"


def machine_policy(setting) -> str:
    """:func:`mixed_policy` for this machine's devices."""
    gpu = bool(tf.config.list_physical_devices("GPU"))
    return mixed_policy(setting, gpu, not gpu and cpu_has_bf16())
