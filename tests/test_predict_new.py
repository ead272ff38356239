"""New images (predict_input) segmented by the fold ensemble, sharded so that additions rerun only their shards."""
import shutil
import zipfile

import cv2
import pandas as pd
import pytest

from helpers import job_counts, snakemake
from snakeseg.data import shards

pytestmark = pytest.mark.slow


def test_new_images_are_segmented_and_additions_rerun_only_their_shards(tmp_path, tiny_demo_run):
    work = tmp_path / "run"
    shutil.copytree(tiny_demo_run, work, symlinks=True)
    new = tmp_path / "new"
    new.mkdir()
    with zipfile.ZipFile(work / "work" / "demo" / "stage1_train.zip") as zf:
        names = sorted(n for n in zf.namelist() if "/images/" in n and n.endswith(".png"))
        for i, name in enumerate(names[:8]):
            (new / f"new{i}.png").write_bytes(zf.read(name))
    (new / "broken.png").write_bytes(b"not an image")
    (new / ".DS_Store").write_bytes(b"junk")
    cfg = tmp_path / "new.yaml"
    cfg.write_text(f"predict_input: {new}\n")
    target = "results/inference/main/summary.csv"
    snakemake(work, target, configfile=cfg)
    out = work / "results" / "inference" / "main"
    summary = pd.read_csv(out / "summary.csv", dtype={"shard": str})
    assert sorted(summary["id"]) == [f"new{i}" for i in range(8)]
    assert list(summary["shard"]) == [shards.shard_name(shards.shard_of(i, 4)) for i in summary["id"]]
    for row in summary.itertuples():
        mask = cv2.imread(str(out / "shards" / f"shard-{row.shard}" / "masks" / f"{row.id}.png"), cv2.IMREAD_UNCHANGED)
        image = cv2.imread(str(new / f"{row.id}.png"))
        assert mask.shape == image.shape[:2] == (row.height, row.width)
        assert set(mask.ravel()) <= {0, 255} and row.foreground_fraction == pytest.approx((mask > 0).mean(), abs=1e-6)
        assert (out / "shards" / f"shard-{row.shard}" / "overlays" / f"{row.id}.png").exists()
    aside = pd.read_csv(out / "set_aside.csv", dtype=str, keep_default_na=False)
    assert "broken.png: cannot be decoded" in dict(zip(aside["files"], aside["reason"]))["broken.png"]
    assert ".DS_Store" in set(aside["files"])
    # Two more images: only their shards are staged and segmented again.
    for i in (8, 9):
        shutil.copyfile(new / "new0.png", new / f"new{i}.png")
    touched = {shards.shard_name(shards.shard_of(f"new{i}", 4)) for i in (8, 9)}
    counts = job_counts(snakemake(work, target, "-n", configfile=cfg).stdout)
    assert counts == {"unzip_new": len(touched), "predict_new": len(touched), "inference_summary": 1}, counts
    snakemake(work, target, configfile=cfg)
    assert len(pd.read_csv(out / "summary.csv")) == 10
