"""A training job's data: which shards train and which validate a fold, and the fold's identity."""

from __future__ import annotations

import os
from typing import NamedTuple

from ..data.shards import fingerprint


class FoldData(NamedTuple):
    train_files: list[str]
    val_files: list[str]
    n_train: int
    n_val: int
    train_sizes: list  # [height, width] of each training record
    train_pixels: int


def split_fold(tfrecords: list[str], indexes: list[dict], val_shards: set[str], extra: list[str] = (),
               extra_indexes: list[dict] = ()) -> FoldData:
    """The shards' TFRecords (``indexes[i]`` is the JSON index of ``tfrecords[i]``) split into the
    fold's training and validation files, with their record counts and the training records' sizes;
    ``extra`` shards (accepted predictions) only ever train."""
    train, val, n_train, n_val, sizes = [], [], 0, 0, []
    pairs = [(p, i, False) for p, i in zip(tfrecords, indexes)] + [(p, i, True) for p, i in zip(extra, extra_indexes)]
    for path, index, train_only in pairs:
        if not train_only and index["shard"] in val_shards:
            val.append(path)
            n_val += index["count"]
        else:
            train.append(path)
            n_train += index["count"]
            sizes += index["sizes"]
    return FoldData(train, val, n_train, n_val, sizes, sum(h * w for h, w in sizes))


def fold_fingerprint(fold: int, model_cfg: dict, train_cfg: dict, recipe: dict, classes: list[str],
                     val_shards: set[str], indexes: list[dict]) -> str:
    """Configuration and data identity of a training job: a rerun with the same fingerprint resumes
    where a killed one stopped; any other starts over. A local encoder weights file counts by its
    size and modification time, not only its path (new weights under the same name start over).
    The shards' indexes count with their records' digest (a changed image's pixels start over), but
    not with the images they set aside: a bad file added beside good ones trains nothing."""
    records = [{key: value for key, value in index.items() if key != "set_aside"} for index in indexes]
    identity = [fold, model_cfg, train_cfg, recipe, classes, sorted(val_shards), records]
    weights = model_cfg.get("encoder_weights")
    if weights and os.path.isfile(weights):
        identity.append([os.path.getsize(weights), os.path.getmtime(weights)])
    return fingerprint(identity)
