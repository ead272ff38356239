"""Fixtures shared by test modules."""
import pytest

from helpers import snakemake


@pytest.fixture(scope="session")
def tiny_demo_run(tmp_path_factory):
    """The whole workflow run once on the tiny demo configuration (minutes); tests only read it."""
    workdir = tmp_path_factory.mktemp("tiny-demo")
    snakemake(workdir)
    return workdir
