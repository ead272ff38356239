"""Speed of a prediction callable: median latency of one patch over repeated runs, and images per second."""

from __future__ import annotations

import statistics
import time
from typing import Callable

import numpy as np


def median_latency(predict: Callable[[np.ndarray], np.ndarray], x: np.ndarray, runs: int) -> float:
    """Median seconds of ``predict(x)`` over ``runs`` runs, after one warm-up run (tracing, allocation)."""
    predict(x)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        predict(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class Stopwatch:
    """Seconds spent in the blocks it times, summed: ``with watch: ...``."""

    def __init__(self):
        self.seconds = 0.0
        self._start = 0.0

    def __enter__(self) -> "Stopwatch":
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds += time.perf_counter() - self._start


def per_second(count: int, seconds: float) -> float:
    """``count / seconds`` (NaN when nothing was timed)."""
    return count / seconds if seconds > 0 else float("nan")
