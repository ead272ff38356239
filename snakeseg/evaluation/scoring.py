"""Scoring predictions against the merged truth: out-of-fold (each image's mask found in its fold)
and on a test set (each shard's masks in its own folder)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..data.items import iter_truth
from ..errors import InputError
from ..inference.predict import read_prediction
from .metrics import label_scores


def prediction_dirs(paths: list[str]) -> dict[int, Path]:
    """{fold: folder} for prediction folders named ``fold-<k>``."""
    return {int(Path(p).name.split("-", 1)[1]): Path(p) for p in paths}


def out_of_fold_table(merged_dirs: list[str], predictions: dict[int, Path], classes: list[str]) -> pd.DataFrame:
    """One row per usable image: its scores against its one out-of-fold prediction (``masks/<id>.png``
    in exactly one of ``predictions``), fold, shard, object count and size; sorted by fold and id."""
    rows = []
    for item, truth in iter_truth(merged_dirs):
        hits = [(fold, d / "masks" / f"{item['id']}.png") for fold, d in predictions.items()
                if (d / "masks" / f"{item['id']}.png").exists()]
        if len(hits) != 1:
            raise InputError(f"image {item['id']}", f"has {len(hits)} out-of-fold predictions, expected 1",
                             "rerun the predict jobs (snakemake --forcerun predict)")
        fold, path = hits[0]
        scores = label_scores(truth, read_prediction(path, len(classes)), classes)
        rows.append({"id": item["id"], "fold": fold, "shard": item["shard"], **scores,
                     "n_instances": item["n_instances"], "height": item["height"], "width": item["width"]})
    return pd.DataFrame(rows).sort_values(["fold", "id"]).reset_index(drop=True)


def test_table(merged_dirs: list[str], predicted_dirs: list[str], classes: list[str]) -> pd.DataFrame:
    """One row per usable test image: its scores against ``predicted_dirs[i]/masks/<id>.png`` for the
    images of ``merged_dirs[i]``, shard, object count and size; sorted by id."""
    rows = []
    for merged, predicted in zip(merged_dirs, predicted_dirs):
        for item, truth in iter_truth([merged]):
            path = Path(predicted) / "masks" / f"{item['id']}.png"
            if not path.exists():
                raise InputError(str(path), "is missing", "rerun the predict_test jobs (snakemake --forcerun predict_test)")
            scores = label_scores(truth, read_prediction(path, len(classes)), classes)
            rows.append({"id": item["id"], "shard": item["shard"], **scores, "n_instances": item["n_instances"],
                         "height": item["height"], "width": item["width"]})
    if not rows:
        raise InputError("config test_input", "has no usable image (see results/test/<exp>/ and the logs)",
                         "check the test set's layout and masks")
    return pd.DataFrame(rows).sort_values("id").reset_index(drop=True)
