"""The plan (shard fingerprints and manifests) and its cache keyed on the zip's central directory."""
import os

import pytest

from helpers import good_item, write_dsb_zip
from snakeseg.data import plan, shards
from snakeseg.errors import InputError

ARGS = dict(layout="auto", paired={}, limits={"max_total_mb": 100, "max_ratio": 200}, n_shards=4)


def _items(n, seed=0):
    return {f"img{i:02d}": good_item(seed + i) for i in range(n)}


def _plan(archive, cache, **kw):
    return plan.plan(str(archive), **{**ARGS, **kw}, cache=str(cache))


def test_second_plan_comes_from_the_cache_with_the_same_fingerprints(tmp_path):
    archive = write_dsb_zip(tmp_path / "in.zip", _items(12))
    first = _plan(archive, tmp_path / "cache.json")
    second = _plan(archive, tmp_path / "cache.json")
    assert not first.cached and second.cached
    assert second.shards == first.shards and second.n_usable == first.n_usable == 12
    assert second.unassigned_fingerprint == first.unassigned_fingerprint


def test_manifests_of_a_cached_plan_are_listed_when_asked_and_match(tmp_path):
    archive = write_dsb_zip(tmp_path / "in.zip", _items(12), extra={".DS_Store": b"x"})
    first = _plan(archive, tmp_path / "cache.json")
    second = _plan(archive, tmp_path / "cache.json")
    assert second.cached
    for name in first.shards:
        assert second.manifest(name) == first.manifest(name)
        assert second.manifest(name)["fingerprint"] == first.shards[name]["fingerprint"]
    assert second.unassigned() == first.unassigned() == [{"file": ".DS_Store",
                                                          "reason": "operating-system metadata file, ignored"}]


def test_a_changed_member_misses_the_cache_and_changes_only_its_shard(tmp_path):
    items = _items(12)
    archive = write_dsb_zip(tmp_path / "in.zip", items)
    first = _plan(archive, tmp_path / "cache.json")
    image, masks = items["img03"]
    items["img03"] = (image, [masks[0][:-1] + bytes([masks[0][-1] ^ 1])] + masks[1:])  # same size, new CRC
    write_dsb_zip(archive, items)
    second = _plan(archive, tmp_path / "cache.json")
    assert not second.cached
    changed = {n for n in first.shards if first.shards[n]["fingerprint"] != second.shards[n]["fingerprint"]}
    assert changed == {shards.shard_name(shards.shard_of("img03", 4))}


def test_touching_the_zip_keeps_the_cache(tmp_path):
    archive = write_dsb_zip(tmp_path / "in.zip", _items(12))
    _plan(archive, tmp_path / "cache.json")
    os.utime(archive, ns=(1, 1))
    assert _plan(archive, tmp_path / "cache.json").cached


def test_a_zip_changed_after_planning_is_refused_when_its_manifests_are_written(tmp_path):
    items = _items(12)
    archive = write_dsb_zip(tmp_path / "in.zip", items)
    _plan(archive, tmp_path / "cache.json")
    cached = _plan(archive, tmp_path / "cache.json")
    items["img01"] = good_item(77)
    write_dsb_zip(archive, items)
    with pytest.raises(InputError, match="changed while the workflow was running"):
        cached.manifest("0000")


def test_settings_that_shape_the_plan_are_part_of_the_key(tmp_path):
    archive = write_dsb_zip(tmp_path / "in.zip", _items(12))
    _plan(archive, tmp_path / "cache.json")
    other = _plan(archive, tmp_path / "cache.json", n_shards=6)
    assert not other.cached and len(other.shards) == 6
    assert not _plan(archive, tmp_path / "cache.json", layout="dsb2018").cached


def test_folders_are_listed_every_time(tmp_path):
    folder = tmp_path / "data"
    for image_id, (image, masks) in _items(8).items():
        (folder / image_id / "images").mkdir(parents=True)
        (folder / image_id / "images" / f"{image_id}.png").write_bytes(image)
        (folder / image_id / "masks").mkdir()
        for i, m in enumerate(masks):
            (folder / image_id / "masks" / f"m{i}.png").write_bytes(m)
    first = _plan(folder, tmp_path / "cache.json")
    (folder / "img02" / "masks" / "m0.png").write_bytes(good_item(50)[1][0])
    second = _plan(folder, tmp_path / "cache.json")
    assert not first.cached and not second.cached
    changed = {n for n in first.shards if first.shards[n]["fingerprint"] != second.shards[n]["fingerprint"]}
    assert changed == {shards.shard_name(shards.shard_of("img02", 4))}


def test_errors_are_raised_every_time_not_cached(tmp_path):
    archive = write_dsb_zip(tmp_path / "in.zip", _items(4), extra={"../evil.png": b"x"})
    for _ in range(2):
        with pytest.raises(InputError, match="unsafe path"):
            _plan(archive, tmp_path / "cache.json")


def test_folds_that_would_be_empty_are_refused(tmp_path):
    archive = write_dsb_zip(tmp_path / "in.zip", _items(1))
    result = _plan(archive, tmp_path / "cache.json")
    with pytest.raises(InputError, match="usable images for validation"):
        plan.check_folds(result, 2)
    plan.check_folds(_plan(write_dsb_zip(tmp_path / "more.zip", _items(12)), tmp_path / "c2.json"), 2)


def test_a_damaged_cache_file_plans_from_scratch(tmp_path):
    archive = write_dsb_zip(tmp_path / "in.zip", _items(12))
    first = _plan(archive, tmp_path / "cache.json")
    (tmp_path / "cache.json").write_text("{not json")
    again = _plan(archive, tmp_path / "cache.json")
    assert not again.cached and again.shards == first.shards
