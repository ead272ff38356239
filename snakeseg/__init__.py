"""snakeseg: the logic behind the snakeseg Snakemake workflow, one subpackage per stage.

``data`` (input to TFRecords), ``training``, ``inference``, ``evaluation``, ``deploy`` and
``workflow`` (the scripts' glue). Only ``training``, the prediction scripts and ``deploy.convert``
import TensorFlow, through :mod:`snakeseg.tfenv`; data-preparation jobs never pay for it.
"""

__version__ = "0.1.0"
