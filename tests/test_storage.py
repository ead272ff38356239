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
    # Results: the same files, and every CSV table with the same rows and columns. (Not to the byte:
    # native-mode training of one demo fold differs between two runs from its second epoch on, an
    # open problem noted in bench/README.md; the input pipeline itself gives the same batches.)
    want, got = files(plain / "results"), files(remote / "results")
    assert sorted(got) == sorted(want)
    tables = [name for name in want if name.endswith(".csv")]
    assert "metrics/main/per_image.csv" in tables and "models/main/fold-0/history.csv" in tables
    for name in tables:
        a, b = pd.read_csv(want[name]), pd.read_csv(got[name])
        assert list(a.columns) == list(b.columns) and len(a) == len(b), name
        if "id" in a:
            assert list(a["id"]) == list(b["id"]), name
    # Nothing a rule wrote stayed outside the storage: only the input (the demo zip, its link), the
    # plan (the manifests, local inputs of unzip) and training's resume scratch are on the local disk.
    assert not (stored / "results").exists()
    assert sorted(p.name for p in (stored / "work").iterdir()) == ["demo", "input", "plan", "train"]
    assert files(stored / "work" / "plan").keys() == files(plain / "work" / "plan").keys()
