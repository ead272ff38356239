"""Multi-class index masks with an ignore value, carried from the masks through training to metrics."""

import json

import cv2
import numpy as np
import pandas as pd
import pytest

from helpers import snakemake
from test_shard_stages import first_example

CONFIG = """
input: {input}
masks: {{format: index, classes: [round, square], ignore_value: 9}}
model: {{arch: custom_unet, depth: 2, base_filters: 8}}
train: {{monitor: val_iou_score, warmup_epochs: 0}}  # loss: auto, cce_ignore for two classes
"""


def write_index_dataset(root, n=12):
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    rng = np.random.default_rng(3)
    for i in range(n):
        img = np.full((64, 64, 3), 20, np.uint8)
        lab = np.zeros((64, 64), np.uint8)
        cy, cx = rng.integers(12, 52, 2)
        cv2.circle(img, (int(cx), int(cy)), 8, (200, 60, 60), -1)
        cv2.circle(lab, (int(cx), int(cy)), 8, 1, -1)
        y, x = rng.integers(4, 44, 2)
        img[y:y + 14, x:x + 14] = (60, 200, 60)
        lab[y:y + 14, x:x + 14] = 2
        lab[:, :3] = 9  # an unannotated strip
        cv2.imwrite(str(root / "images" / f"{i:04d}.png"), img)  # numbered as FUSeg's photos: ids 0000, ...
        cv2.imwrite(str(root / "labels" / f"{i:04d}.png"), lab)
    return root


@pytest.mark.slow
def test_index_masks_with_ignore_value_train_and_score_per_class(tmp_path):
    data = write_index_dataset(tmp_path / "data")
    cfg = tmp_path / "mc.yaml"
    cfg.write_text(CONFIG.format(input=data))
    snakemake(tmp_path, "results/metrics/main/summary.json", "results/quantized/main/per_image.csv",
              "results/qa/dataset.csv", "results/plots/gallery.png", configfile=cfg)
    res = tmp_path / "results"
    # The ignore value became the internal 255 and never counts as a class.
    ex = first_example(next((tmp_path / "work" / "tfrecords").glob("*.tfrec")))
    labels = cv2.imdecode(np.frombuffer(ex["mask"][0], np.uint8), cv2.IMREAD_UNCHANGED)
    assert set(np.unique(labels)) <= {0, 1, 2, 255} and (labels[:, 0] == 255).all()
    dataset = pd.read_csv(res / "qa" / "dataset.csv")
    assert dataset["mask_encoding"].str.contains("index map 0..2").all()
    assert (dataset["ignored_fraction"] > 0).all() and (dataset["stray_pixels"] == 0).all()
    per_image = pd.read_csv(res / "metrics" / "main" / "per_image.csv")
    assert {"dice_round", "dice_square", "iou_round", "iou_square"} <= set(per_image.columns)
    assert np.allclose(per_image["dice"], per_image[["dice_round", "dice_square"]].mean(axis=1))
    summary = json.loads((res / "metrics" / "main" / "summary.json").read_text())
    assert "dice_square" in summary["overall"]
    for fold in (0, 1):
        for mask in (res / "predictions" / "main" / f"fold-{fold}" / "masks").glob("*.png"):
            assert set(np.unique(cv2.imread(str(mask), cv2.IMREAD_UNCHANGED))) <= {0, 1, 2}
    quant = pd.read_csv(res / "quantized" / "main" / "per_image.csv", dtype={"id": str})
    assert len(quant) == 12 and quant["dice_dynamic_range"].between(0, 1).all()
    assert sorted(quant["id"]) == [f"{i:04d}" for i in range(12)]  # ids that look like numbers keep their zeros
    history = pd.read_csv(res / "models" / "main" / "fold-0" / "history.csv")
    assert "val_iou_score" in history.columns
