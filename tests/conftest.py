"""Fixtures shared by test modules."""
import fcntl
import os
import shutil

import pytest

from helpers import snakemake


@pytest.fixture(scope="session")
def tiny_demo_run(tmp_path_factory):
    """The whole workflow run once on the tiny demo configuration (minutes); tests only read it
    (copy it to run Snakemake in it). The pytest-xdist workers share one run: the first makes it
    while the others wait on its lock."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's folder, above each worker's own
    workdir, done = root / "tiny-demo", root / "tiny-demo.done"
    with open(root / "tiny-demo.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(workdir, ignore_errors=True)  # a failed attempt of another worker
            workdir.mkdir()
            snakemake(workdir)
            done.touch()
    return workdir
