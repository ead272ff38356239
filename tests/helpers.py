"""Shared test helpers: tiny DSB-style zips and running the workflow in a scratch folder."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np

from snakeseg.workflow.jobstats import job_counts  # noqa: F401  (re-exported for the tests)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

# Small enough for a 2-core CI machine: 64 px images, two folds, two short epochs.
TINY_CONFIG = """
n_shards: 4
n_folds: 2
image_size: 64
demo: {n_images: 12, seed: 7, sizes: [64, 80]}
model: {decoder_filters: [32, 16, 16, 8, 8]}
train: {epochs: 2, warmup_epochs: 1, min_steps_per_epoch: 2, batch_size: 4, early_stopping_patience: 2, reduce_lr_patience: 1}
"""


def png(arr: np.ndarray) -> bytes:
    return cv2.imencode(".png", arr)[1].tobytes()


def nucleus_image(size=(32, 40), seed=0):
    """A grey image with two square 'nuclei' and their instance masks."""
    rng = np.random.default_rng(seed)
    h, w = size
    img = (rng.random((h, w)) * 40).astype(np.uint8)
    masks = []
    for y, x in ((4, 4), (16, 20)):
        m = np.zeros((h, w), np.uint8)
        m[y:y + 8, x:x + 8] = 255
        img[m > 0] = 200
        masks.append(m)
    return img, masks


def write_dsb_zip(path, items: dict[str, tuple[bytes, list[bytes]]], extra: dict[str, bytes] | None = None):
    """A DSB2018-layout zip: items maps id -> (image bytes, [mask bytes]); extra adds raw members."""
    with zipfile.ZipFile(path, "w") as zf:
        for image_id, (image, masks) in items.items():
            zf.writestr(f"{image_id}/images/{image_id}.png", image)
            for i, m in enumerate(masks):
                zf.writestr(f"{image_id}/masks/m{i}.png", m)
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return path


def images_from_demo(work, folder, n, prefix):
    """The first ``n`` images of a run's demo zip, as ``folder/<prefix><i>.png`` (no masks)."""
    folder.mkdir()
    with zipfile.ZipFile(work / "work" / "demo" / "stage1_train.zip") as zf:
        names = sorted(n for n in zf.namelist() if "/images/" in n and n.endswith(".png"))
        for i, name in enumerate(names[:n]):
            (folder / f"{prefix}{i}.png").write_bytes(zf.read(name))


def good_item(seed=0, size=(32, 40)):
    img, masks = nucleus_image(size, seed)
    return png(img), [png(m) for m in masks]


def snakemake(workdir, *args, check=True, configfile=None):
    """Run the workflow in ``workdir`` with the tiny config (plus ``configfile``)."""
    workdir = Path(workdir)
    tiny = workdir / "tiny.yaml"
    tiny.write_text(TINY_CONFIG)
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(tiny), *([str(configfile)] if configfile else []), "--cores", "2", *args]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc
