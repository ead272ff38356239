"""The workflow on a Snakemake storage provider gives the results of a plain run.

snakemake-storage-plugin-fs stands in for any remote storage (S3, GCS, a cluster without a shared
work folder): every rule's inputs are staged in and its outputs uploaded, so a job that read a file
it does not declare would fail or differ here.
"""
import filecmp
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from helpers import snakemake

# A whole second workflow run (about 3.5 minutes on 2 cores), so it runs where SNAKESEG_STORAGE_E2E=1,
# as .ci/run sets: the README's test command stays within 15 minutes on a 2-core machine.
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(os.environ.get("SNAKESEG_STORAGE_E2E") != "1",
                                 reason="set SNAKESEG_STORAGE_E2E=1 to run it (a second whole run; .ci/run sets it)"),
              pytest.mark.skipif(shutil.which("rsync") is None,
                                 reason="snakemake-storage-plugin-fs copies with rsync: apt-get install rsync")]


# Columns of the quantization tables that measure time, different in every run.
TIMING_COLUMNS = {"latency_ms_1thread", "latency_ms_nthreads", "predict_seconds", "images_per_s", "convert_seconds"}


def storage_args(remote: Path, local: Path) -> list[str]:
    return ["--default-storage-provider", "fs", "--default-storage-prefix", str(remote),
            "--shared-fs-usage", "persistence", "software-deployment", "sources", "source-cache",
            "--local-storage-prefix", str(local)]


def files(root: Path) -> dict[str, Path]:
    return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.startswith(".snakemake") and p.name != "report.html"}


def test_end_to_end_on_storage_equals_a_plain_run(tmp_path, tiny_demo_run):
    plain, stored = tiny_demo_run, tmp_path / "stored"
    stored.mkdir()
    remote, local = tmp_path / "remote", tmp_path / "local"
    snakemake(stored, *storage_args(remote, local))
    # The data stage: the same files, byte for byte.
    for stage in ("raw", "merged", "tfrecords"):
        want, got = files(plain / "work" / stage), files(remote / "work" / stage)
        assert sorted(got) == sorted(want) and want, stage
        assert all(filecmp.cmp(want[k], got[k], shallow=False) for k in want), stage
    # Results: the same files, byte for byte (training is repeatable on a CPU), except what measures
    # time: the TFLite latency tables, their plot and the SavedModels' fingerprints.
    want, got = files(plain / "results"), files(remote / "results")
    assert sorted(got) == sorted(want)
    timed = [name for name in want if name.startswith("quantized/") and name.endswith(("variants.csv", "summary.csv"))]
    assert "quantized/main/summary.csv" in timed
    for name in want:
        if name in timed:
            a, b = pd.read_csv(want[name]), pd.read_csv(got[name])
            assert list(a.columns) == list(b.columns), name
            untimed = [c for c in a.columns if c not in TIMING_COLUMNS]
            pd.testing.assert_frame_equal(a[untimed], b[untimed], obj=name)
        elif not (name.startswith("plots/quantization") or name.endswith("fingerprint.pb")):
            assert filecmp.cmp(want[name], got[name], shallow=False), name
    # Nothing a rule wrote stayed outside the storage: only the input (the demo zip, its link), the
    # plan (the manifests, local inputs of unzip) and training's resume scratch are on the local disk.
    assert not (stored / "results").exists()
    assert sorted(p.name for p in (stored / "work").iterdir()) == ["demo", "input", "plan", "train"]
    assert files(stored / "work" / "plan").keys() == files(plain / "work" / "plan").keys()
