"""A training job killed with SIGKILL continues from its last completed epoch when rerun."""

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from helpers import REPO, TINY_CONFIG, snakemake

RESUME = ("train: {epochs: 8, warmup_epochs: 0, min_steps_per_epoch: 6, early_stopping_patience: 20, "
          "reduce_lr_patience: 20}\n")


@pytest.mark.slow
def test_killed_training_resumes_with_a_continuous_history(tmp_path):
    cfg = tmp_path / "resume.yaml"
    cfg.write_text(RESUME)
    target = "results/models/main/fold-0/model.h5"
    snakemake(tmp_path, "--until", "make_shards", configfile=cfg)
    (tmp_path / "tiny.yaml").write_text(TINY_CONFIG)
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path),
           "--configfile", str(tmp_path / "tiny.yaml"), str(cfg), "--cores", "2", target]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    history = tmp_path / "work" / "train" / "main" / "fold-0" / "history.csv"
    deadline = time.time() + 300
    while time.time() < deadline:
        if history.exists() and len(history.read_text().splitlines()) >= 4:  # header + 3 epochs
            break
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(pd.read_csv(history).drop_duplicates("epoch"))
    assert 3 <= done_before < 8, "the kill should land mid-training"
    assert not (tmp_path / target).exists()

    # As after a wall-time kill, the rerun asks for more time (and other threads and cache): it still resumes.
    cfg.write_text(RESUME.replace("train: {", "train: {runtime_min: 480, threads: 1, cache_mb: 0, "))
    snakemake(tmp_path, "--unlock", configfile=cfg)
    snakemake(tmp_path, target, configfile=cfg)
    final = pd.read_csv(tmp_path / "results" / "models" / "main" / "fold-0" / "history.csv")
    assert final["epoch"].tolist() == list(range(8))  # continuous, each epoch once
    log = (tmp_path / "logs" / "train_fold" / "main" / "fold-0.log").read_text()
    assert "resuming: " in log, "the rerun started over"
    resumed = int(log.split("resuming: ")[1].split(" epochs")[0])
    assert resumed >= done_before - 1  # at most one epoch lost
    first = int(log.split("\nEpoch ")[1].split("/")[0])  # 1-based first epoch the rerun trained
    assert first >= done_before  # it did not start over: at most the interrupted epoch is repeated
