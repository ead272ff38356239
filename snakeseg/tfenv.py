"""The one place TensorFlow is imported: Keras 2 (tf-keras) and segmentation-models' tf.keras mode.

Import this module only from code that needs TensorFlow; it costs seconds.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("SM_FRAMEWORK", "tf.keras")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402
import segmentation_models as sm  # noqa: E402

__all__ = ["tf", "keras", "sm", "configure"]


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
