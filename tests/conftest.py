"""Fixtures shared by test modules."""
import pytest

from helpers import snakemake


@pytest.fixture(scope="session")
def tiny_demo_run(tmp_path_factory):
    """The whole workflow run once on the tiny demo configuration (minutes); tests only read it."""
    workdir = tmp_path_factory.mktemp("tiny-demo")
    snakemake(workdir)
    return workdir


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items):
    """The tests reading the tiny run form one pytest-xdist group: one worker runs it, once."""
    for item in items:
        if "tiny_demo_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("tiny_demo_run"))
