"""snakeseg: the logic behind the snakeseg Snakemake workflow.

Modules that need TensorFlow (``models``, ``training``, ``inference``, ``quantize``)
import it lazily through :mod:`snakeseg.tfenv`; everything else is plain NumPy/OpenCV
so that data-preparation jobs start fast.
"""

__version__ = "0.1.0"
