"""The plan: shard manifests written only when they change, and its cache keyed on the zip's central directory."""
import json
import os

import pytest

from helpers import good_item, write_dsb_zip
from snakeseg.data import plan, shards
from snakeseg.errors import InputError

ARGS = dict(layout="auto", paired={}, limits={"max_total_mb": 100, "max_ratio": 200}, n_shards=4)


def _items(n, seed=0):
    return {f"img{i:02d}": good_item(seed + i) for i in range(n)}


def _plan(archive, folder, **kw):
    return plan.plan(str(archive), **{**ARGS, **kw}, manifest_dir=str(folder))


def _mtimes(folder):
    return {p.name: p.stat().st_mtime_ns for p in sorted(folder.glob("*.json")) if p.name != plan.CACHE}


def test_second_plan_comes_from_the_cache_and_touches_no_manifest(tmp_path):
    archive = write_dsb_zip(tmp_path / "in.zip", _items(12))
    first = _plan(archive, tmp_path / "m")
    before = _mtimes(tmp_path / "m")
    second = _plan(archive, tmp_path / "m")
    assert not first.cached and second.cached
    assert second.shards == first.shards and second.n_usable == first.n_usable == 12
    assert _mtimes(tmp_path / "m") == before
    on_disk = {p.stem[len("shard-"):]: json.loads(p.read_text())["fingerprint"]
               for p in (tmp_path / "m").glob("shard-*.json")}
    assert on_disk == {name: s["fingerprint"] for name, s in second.shards.items()}


def test_a_changed_member_rewrites_only_its_shard(tmp_path):
    items = _items(12)
    archive = write_dsb_zip(tmp_path / "in.zip", items)
    first = _plan(archive, tmp_path / "m")
    before = _mtimes(tmp_path / "m")
    image, masks = items["img03"]
    items["img03"] = (image, [masks[0][:-1] + bytes([masks[0][-1] ^ 1])] + masks[1:])  # same size, new CRC
    write_dsb_zip(archive, items)
    second = _plan(archive, tmp_path / "m")
    assert not second.cached
    changed = {n for n in first.shards if first.shards[n]["fingerprint"] != second.shards[n]["fingerprint"]}
    assert changed == {shards.shard_name(shards.shard_of("img03", 4))}
    after = _mtimes(tmp_path / "m")
    assert {n for n in after if after[n] != before[n]} == {f"shard-{name}.json" for name in changed}


def test_touching_the_zip_keeps_the_cache(tmp_path):
    archive = write_dsb_zip(tmp_path / "in.zip", _items(12))
    _plan(archive, tmp_path / "m")
    os.utime(archive, ns=(1, 1))
    assert _plan(archive, tmp_path / "m").cached


def test_a_deleted_or_edited_manifest_is_written_again(tmp_path):
    archive = write_dsb_zip(tmp_path / "in.zip", _items(12))
    _plan(archive, tmp_path / "m")
    good = (tmp_path / "m" / "shard-0001.json").read_text()
    (tmp_path / "m" / "shard-0001.json").unlink()
    assert not _plan(archive, tmp_path / "m").cached
    assert (tmp_path / "m" / "shard-0001.json").read_text() == good
    (tmp_path / "m" / "shard-0002.json").write_text("{}")
    assert not _plan(archive, tmp_path / "m").cached
    assert json.loads((tmp_path / "m" / "shard-0002.json").read_text())["shard"] == "0002"


def test_settings_that_shape_the_plan_are_part_of_the_key(tmp_path):
    archive = write_dsb_zip(tmp_path / "in.zip", _items(12))
    _plan(archive, tmp_path / "m")
    other = _plan(archive, tmp_path / "m", n_shards=6)
    assert not other.cached and len(other.shards) == 6
    assert not _plan(archive, tmp_path / "m", layout="dsb2018").cached


def test_unassigned_files_are_listed(tmp_path):
    archive = write_dsb_zip(tmp_path / "in.zip", _items(4), extra={".DS_Store": b"x"})
    _plan(archive, tmp_path / "m")
    assert json.loads((tmp_path / "m" / plan.UNASSIGNED).read_text()) == [
        {"file": ".DS_Store", "reason": "operating-system metadata file, ignored"}]


def test_folders_are_listed_every_time(tmp_path):
    folder = tmp_path / "data"
    for image_id, (image, masks) in _items(8).items():
        (folder / image_id / "images").mkdir(parents=True)
        (folder / image_id / "images" / f"{image_id}.png").write_bytes(image)
        (folder / image_id / "masks").mkdir()
        for i, m in enumerate(masks):
            (folder / image_id / "masks" / f"m{i}.png").write_bytes(m)
    first = _plan(folder, tmp_path / "m")
    (folder / "img02" / "masks" / "m0.png").write_bytes(good_item(50)[1][0])
    second = _plan(folder, tmp_path / "m")
    assert not first.cached and not second.cached
    changed = {n for n in first.shards if first.shards[n]["fingerprint"] != second.shards[n]["fingerprint"]}
    assert changed == {shards.shard_name(shards.shard_of("img02", 4))}


def test_errors_are_raised_every_time_not_cached(tmp_path):
    archive = write_dsb_zip(tmp_path / "in.zip", _items(4), extra={"../evil.png": b"x"})
    for _ in range(2):
        with pytest.raises(InputError, match="unsafe path"):
            _plan(archive, tmp_path / "m")


def test_folds_that_would_be_empty_are_refused(tmp_path):
    result = _plan(write_dsb_zip(tmp_path / "in.zip", _items(1)), tmp_path / "m")
    with pytest.raises(InputError, match="usable images for validation"):
        plan.check_folds(result, 2)
    plan.check_folds(_plan(write_dsb_zip(tmp_path / "more.zip", _items(12)), tmp_path / "m2"), 2)


def test_a_damaged_cache_file_plans_from_scratch(tmp_path):
    archive = write_dsb_zip(tmp_path / "in.zip", _items(12))
    first = _plan(archive, tmp_path / "m")
    (tmp_path / "m" / plan.CACHE).write_text("{not json")
    again = _plan(archive, tmp_path / "m")
    assert not again.cached and again.shards == first.shards


def test_a_test_set_sharing_ids_with_the_training_data_is_warned_about(tmp_path):
    train = _plan(write_dsb_zip(tmp_path / "train.zip", _items(6)), tmp_path / "train")
    assert train.n_usable == 6
    apart = {f"other{i}": item for i, item in enumerate(_items(2).values())}
    _plan(write_dsb_zip(tmp_path / "apart.zip", apart), tmp_path / "apart")
    assert plan.overlap_warning(tmp_path / "train", tmp_path / "apart", "test_input", "the scores overstate") is None
    _plan(write_dsb_zip(tmp_path / "same.zip", _items(4)), tmp_path / "same")
    warning = plan.overlap_warning(tmp_path / "train", tmp_path / "same", "test_input", "the scores overstate")
    assert warning.startswith("snakeseg: 4 test_input image(s) have the ids of training images") and "..." in warning


def test_only_shards_holding_an_image_get_jobs(tmp_path):
    """Two new images and one set aside, in 12 shards: the shards of those three, cached plan or not."""
    image, _ = good_item()
    names = {"a": image, "b": image, "dup": image}
    folder = tmp_path / "new"
    (folder / "x").mkdir(parents=True)
    for name, data in names.items():
        (folder / f"{name}.png").write_bytes(data)
    (folder / "x" / "dup.png").write_bytes(image)  # x__dup: not a duplicate; dup.tif would be
    (folder / "dup.tif").write_bytes(image)
    for _ in range(2):
        result = _plan(folder, tmp_path / "m", layout="images", n_shards=12)
        expected = {shards.shard_name(shards.shard_of(i, 12)) for i in ("a", "b", "dup", "x__dup")}
        assert result.busy_shards() == sorted(expected) and len(result.shards) == 12
        assert sum(s["set_aside"] for s in result.shards.values()) == 1  # dup.png and dup.tif
