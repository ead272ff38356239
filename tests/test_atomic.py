import json

import pytest

from snakeseg import atomic


def test_atomic_path_keeps_old_file_when_writer_fails(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(target) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("killed")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_atomic_dir_replaces_whole_directory_or_nothing(tmp_path):
    target = tmp_path / "d"
    with atomic.atomic_dir(target) as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(RuntimeError):
        with atomic.atomic_dir(target) as tmp:
            (tmp / "b").write_text("2")
            raise RuntimeError("killed")
    assert sorted(p.name for p in target.iterdir()) == ["a"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


def test_write_json_if_changed_keeps_mtime_when_equal(tmp_path):
    target = tmp_path / "m.json"
    assert atomic.write_json_if_changed(target, {"x": [1]})
    before = target.stat().st_mtime_ns
    assert not atomic.write_json_if_changed(target, {"x": [1]})
    assert target.stat().st_mtime_ns == before
    assert atomic.write_json_if_changed(target, {"y": 2}) and json.loads(target.read_text()) == {"y": 2}
    target.write_text("{truncated")
    assert atomic.write_json_if_changed(target, {"y": 2}) and json.loads(target.read_text()) == {"y": 2}



def test_atomic_files_get_umask_permissions_not_0600(tmp_path):
    atomic.write_text(tmp_path / "f.txt", "x")
    with atomic.atomic_dir(tmp_path / "d"):
        pass
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == 0o666 & ~atomic._umask()
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o777 & ~atomic._umask()


def test_a_file_name_near_the_file_systems_limit_is_written(tmp_path):
    name = "L" * 240 + ".png"  # 244 bytes: its temporary sibling must not add the whole name again
    atomic.write_bytes(tmp_path / name, b"x")
    assert (tmp_path / name).read_bytes() == b"x" and [p.name for p in tmp_path.iterdir()] == [name]
