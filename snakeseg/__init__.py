"""snakeseg: the logic behind the snakeseg Snakemake workflow, one subpackage per stage.

``data`` (input to TFRecords), ``training``, ``inference``, ``evaluation``, ``deploy`` and
``workflow`` (the scripts' glue). Only ``training``, the prediction scripts and ``deploy.convert``
import TensorFlow, through :mod:`snakeseg.tfenv`; data-preparation jobs never pay for it.
"""

import os

__version__ = "0.1.0"

# OpenCV refuses to decode an image of over 2^30 pixels (a 33,000-px square) unless told otherwise
# before it is imported; whole slides (HuBMAP's reach 50,000 px) are this workflow's to take.
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(1 << 40))
