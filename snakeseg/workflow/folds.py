"""A training job's data: which shards train and which validate a fold, and the fold's identity."""

from __future__ import annotations

from typing import NamedTuple

from ..data.shards import fingerprint


class FoldData(NamedTuple):
    train_files: list[str]
    val_files: list[str]
    n_train: int
    n_val: int


def split_fold(tfrecords: list[str], indexes: list[dict], val_shards: set[str]) -> FoldData:
    """The shards' TFRecords (``indexes[i]`` is the JSON index of ``tfrecords[i]``) split into the
    fold's training and validation files, with their image counts."""
    train, val, n_train, n_val = [], [], 0, 0
    for path, index in zip(tfrecords, indexes):
        if index["shard"] in val_shards:
            val.append(path)
            n_val += index["count"]
        else:
            train.append(path)
            n_train += index["count"]
    return FoldData(train, val, n_train, n_val)


def fold_fingerprint(fold: int, model_cfg: dict, train_cfg: dict, image_size: int, classes: list[str],
                     val_shards: set[str], indexes: list[dict]) -> str:
    """Configuration and data identity of a training job: a rerun with the same fingerprint resumes
    where a killed one stopped; any other starts over."""
    return fingerprint([fold, model_cfg, train_cfg, image_size, classes, sorted(val_shards), indexes])
