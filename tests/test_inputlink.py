"""The work folder's link to its input, and the guard that keeps a run without ``input`` (the demo)
from planning over another input's shards."""
import os

import pytest

from snakeseg.errors import InputError
from snakeseg.workflow import inputlink


def test_the_link_follows_the_input_and_a_demo_run_may_not_replace_other_data(tmp_path):
    work, data = tmp_path / "work", tmp_path / "data.zip"
    demo = work / "demo" / "stage1_train.zip"
    inputlink.check_not_replaced_by_demo(str(work / "input"), str(demo))  # a fresh folder: the demo may start

    inputlink.point(str(work / "input"), str(demo))
    inputlink.check_not_replaced_by_demo(str(work / "input"), str(demo))  # the demo again: fine
    moved = tmp_path / "moved" / "work"
    os.makedirs(moved)
    os.symlink(str(demo), moved / "input")  # the folder copied elsewhere: its link names the old place
    inputlink.check_not_replaced_by_demo(str(moved / "input"), str(moved / "demo" / "stage1_train.zip"))

    link = inputlink.point(str(work / "input"), str(data))  # the user's own data replaces the demo
    assert os.readlink(link) == str(data)
    with pytest.raises(InputError) as err:
        inputlink.check_not_replaced_by_demo(link, str(demo))
    assert f"--config input={data}" in str(err.value) and "delete" in str(err.value)
