"""Incremental reruns for every input layout, and kill-safety of shard jobs."""

import json
import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from helpers import REPO, TINY_CONFIG, good_item, job_counts, nucleus_image, snakemake, write_dsb_zip
from snakeseg.data import shards
from test_layouts import write_paired, zip_folder

N_SHARDS = 4
pytestmark = pytest.mark.slow


def count_records(path) -> int:
    """Records in a TFRecord file, read with TensorFlow's reader (which checks every CRC)."""
    from snakeseg.tfenv import tf

    return sum(1 for _ in tf.data.TFRecordDataset(str(path)))


def shards_of(ids):
    return {shards.shard_name(shards.shard_of(i, N_SHARDS)) for i in ids}


class DsbZip:
    def __init__(self, tmp):
        self.path, self.items = tmp / "in.zip", {f"img{i:02d}": good_item(i) for i in range(16)}
        self.save()

    def save(self):
        write_dsb_zip(self.path, self.items)

    def add(self, ids):
        for i in ids:
            self.items[i] = good_item(len(self.items) + 50)
        self.save()

    def change_mask(self, image_id):
        image, masks = self.items[image_id]
        self.items[image_id] = (image, [masks[1], masks[1]])
        self.save()

    def delete(self, image_id):
        del self.items[image_id]
        self.save()


class PairedFolder:
    def __init__(self, tmp):
        self.path = write_paired(tmp / "data", n=16, masks="labels")

    def add(self, ids):
        for n, i in enumerate(ids):
            img, inst = nucleus_image((32, 40), 100 + n)
            cv2.imwrite(str(self.path / "images" / f"{i}.png"), img)
            cv2.imwrite(str(self.path / "labels" / f"{i}.png"), np.maximum(*inst))

    def change_mask(self, image_id):
        cv2.imwrite(str(self.path / "labels" / f"{image_id}.png"), np.zeros((32, 40), np.uint8))

    def delete(self, image_id):
        (self.path / "images" / f"{image_id}.png").unlink()
        (self.path / "labels" / f"{image_id}.png").unlink()


class PairedZip:
    def __init__(self, tmp):
        self.folder = write_paired(tmp / "src" / "wounds", n=16)
        self.path = tmp / "wounds.zip"
        zip_folder(tmp / "src", self.path)

    def add(self, ids):
        for n, i in enumerate(ids):
            img, inst = nucleus_image((32, 40), 100 + n)
            cv2.imwrite(str(self.folder / "images" / f"{i}.png"), img)
            cv2.imwrite(str(self.folder / "masks" / f"{i}.png"), np.maximum(*inst))
        zip_folder(self.folder.parent, self.path)

    def change_mask(self, image_id):
        cv2.imwrite(str(self.folder / "masks" / f"{image_id}.png"), np.zeros((32, 40), np.uint8))
        zip_folder(self.folder.parent, self.path)

    def delete(self, image_id):
        (self.folder / "images" / f"{image_id}.png").unlink()
        (self.folder / "masks" / f"{image_id}.png").unlink()
        zip_folder(self.folder.parent, self.path)


@pytest.mark.parametrize("layout", [DsbZip, PairedFolder, PairedZip], ids=["dsb-zip", "paired-folder", "paired-zip"])
def test_changes_rebuild_only_the_shards_they_touch(tmp_path, layout):
    data = layout(tmp_path)
    ids = [f"{'img' if layout is DsbZip else 'p'}{i:02d}" for i in range(16)]
    cfg = tmp_path / "input.yaml"
    cfg.write_text(f"input: {data.path}\n")
    snakemake(tmp_path, "--until", "make_shards", configfile=cfg)
    tfrecs = tmp_path / "work" / "tfrecords"

    def step(mutate, touched):
        mtimes = {p.name: p.stat().st_mtime_ns for p in tfrecs.glob("*.tfrec")}
        mutate()
        counts = job_counts(snakemake(tmp_path, "-n", "--until", "make_shards", configfile=cfg).stdout)
        k = len(touched)
        assert counts == {"unzip": k, "merge_masks": k, "make_shards": k}, (mutate, counts)
        snakemake(tmp_path, "--until", "make_shards", configfile=cfg)
        for p in tfrecs.glob("*.tfrec"):
            moved = p.stat().st_mtime_ns != mtimes[p.name]
            assert moved == (p.name[len("shard-"):-len(".tfrec")] in touched), p.name

    new = ["new_a", "new_b"]
    step(lambda: data.add(new), shards_of(new))
    step(lambda: data.change_mask(ids[3]), shards_of([ids[3]]))
    step(lambda: data.delete(ids[9]), shards_of([ids[9]]))
    total = sum(json.loads(p.read_text())["count"] for p in tfrecs.glob("*.json"))
    assert total == 16 + 2 - 1


def test_sigkilled_shard_job_leaves_nothing_truncated_and_rerun_rebuilds(tmp_path):
    """Kill the workflow (SIGKILL, whole process group) while make_shards writes; rerun; check."""
    items = {f"img{i:03d}": good_item(i, size=(200, 200)) for i in range(240)}
    archive = write_dsb_zip(tmp_path / "big.zip", items)
    cfg = tmp_path / "input.yaml"
    cfg.write_text(f"input: {archive}\nn_shards: 2\nn_folds: 2\nimage_size: 256\n")
    snakemake(tmp_path, "--until", "merge_masks", configfile=cfg)
    (tmp_path / "tiny.yaml").write_text(TINY_CONFIG)
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path),
           "--configfile", str(tmp_path / "tiny.yaml"), str(cfg), "--cores", "1", "--until", "make_shards"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    tfrecs = tmp_path / "work" / "tfrecords"
    deadline = time.time() + 120
    while time.time() < deadline and not list(tfrecs.glob(".shard-*.tfrec.tmp-*")):
        time.sleep(0.005)
    assert list(tfrecs.glob(".shard-*.tfrec.tmp-*")), "never saw a shard being written"
    time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    # Nothing under a final name is truncated: every complete-looking file reads back whole.
    for path in tfrecs.glob("shard-*.tfrec"):
        index = json.loads(path.with_suffix(".json").read_text())
        assert count_records(path) == index["count"]
    assert not list(tfrecs.glob("shard-*.json")) or all(
        p.with_suffix(".tfrec").exists() for p in tfrecs.glob("shard-*.json"))
    snakemake(tmp_path, "--unlock", configfile=cfg)  # what Snakemake asks for after a kill
    snakemake(tmp_path, "--until", "make_shards", "--rerun-incomplete", configfile=cfg)
    counts = [json.loads(p.read_text())["count"] for p in sorted(tfrecs.glob("shard-*.json"))]
    assert sum(counts) == 240
    for path in tfrecs.glob("shard-*.tfrec"):
        assert count_records(path) == json.loads(path.with_suffix(".json").read_text())["count"]
