"""Memory the workflow plans with, without TensorFlow: what a training job keeps in memory."""

from __future__ import annotations

import math
from typing import NamedTuple


class PairCache(NamedTuple):
    keep: bool  # decoded training pairs kept in memory (else decoded at every step)
    transposed: bool  # with their transposed copies (90-degree rotations without a transpose)
    mb: float  # memory the kept pairs take, MB


def pairs_mb(n_pairs: int, image_size: int) -> float:
    """Decoded pairs' size: ``image_size^2 x 4`` bytes each (RGB and label map, uint8)."""
    return n_pairs * image_size ** 2 * 4 / 1e6


def pair_cache(n_pairs: int, image_size: int, cache_mb: float, rot90: bool = True) -> PairCache:
    """How a fold's ``n_pairs`` decoded training pairs are held within ``cache_mb``
    (``train.cache_mb``): with transposed copies when the augmentation rotates by 90 degrees and
    twice their size fits, alone when once fits, else not at all."""
    mb = pairs_mb(n_pairs, image_size)
    if rot90 and 2 * mb <= cache_mb:
        return PairCache(True, True, 2 * mb)
    if mb <= cache_mb:
        return PairCache(True, False, mb)
    return PairCache(False, False, 0.0)


def train_job_mb(base_mb: int, n_train: int, n_val: int, image_size: int, cache_mb: float, rot90: bool = True) -> int:
    """A training job's memory request: ``base_mb`` (TensorFlow and the model) plus the pairs it
    keeps in memory (training pairs as :func:`pair_cache` says; validation pairs, decoded once,
    when the training pairs are kept)."""
    cache = pair_cache(n_train, image_size, cache_mb, rot90)
    val_mb = pairs_mb(n_val, image_size) if cache.keep else 0.0
    return base_mb + math.ceil(cache.mb + val_mb)
