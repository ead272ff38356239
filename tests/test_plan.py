"""The plan (shard manifests) and its cache keyed on the zip's central directory."""
import json
import os

import pytest

from helpers import good_item, write_dsb_zip
from snakeseg import plan, zipindex
from snakeseg.errors import InputError

ARGS = dict(layout="auto", paired={}, limits={"max_total_mb": 100, "max_ratio": 200}, n_shards=4, n_folds=2)


def _items(n, seed=0):
    return {f"img{i:02d}": good_item(seed + i) for i in range(n)}


def _plan(archive, manifests, **kw):
    return plan.plan(str(archive), **{**ARGS, **kw}, manifest_dir=str(manifests))


def _mtimes(folder):
    return {p.name: p.stat().st_mtime_ns for p in sorted(folder.glob("*.json")) if p.name != "plan.json"}


def test_second_plan_comes_from_the_cache_and_touches_no_manifest(tmp_path):
    archive = write_dsb_zip(tmp_path / "in.zip", _items(12))
    first = _plan(archive, tmp_path / "m")
    before = _mtimes(tmp_path / "m")
    second = _plan(archive, tmp_path / "m")
    assert not first["cached"] and second["cached"]
    assert second["shards"] == first["shards"] and second["n_usable"] == first["n_usable"] == 12
    assert _mtimes(tmp_path / "m") == before
    on_disk = {p.stem[len("shard-"):]: json.loads(p.read_text())["fingerprint"]
               for p in (tmp_path / "m").glob("shard-*.json")}
    assert on_disk == {name: s["fingerprint"] for name, s in second["shards"].items()}


def test_a_changed_member_misses_the_cache_and_rewrites_only_its_shard(tmp_path):
    items = _items(12)
    archive = write_dsb_zip(tmp_path / "in.zip", items)
    first = _plan(archive, tmp_path / "m")
    before = _mtimes(tmp_path / "m")
    image, masks = items["img03"]
    items["img03"] = (image, [masks[0][:-1] + bytes([masks[0][-1] ^ 1])] + masks[1:])  # same size, new CRC
    write_dsb_zip(archive, items)
    second = _plan(archive, tmp_path / "m")
    assert not second["cached"] and second["patched"]
    changed = {n for n in first["shards"] if first["shards"][n]["fingerprint"] != second["shards"][n]["fingerprint"]}
    assert len(changed) == 1
    after = _mtimes(tmp_path / "m")
    assert {n for n in after if after[n] != before[n]} == {f"shard-{changed.pop()}.json"}


def test_touching_the_zip_keeps_the_cache(tmp_path):
    archive = write_dsb_zip(tmp_path / "in.zip", _items(12))
    _plan(archive, tmp_path / "m")
    os.utime(archive, ns=(1, 1))
    assert _plan(archive, tmp_path / "m")["cached"]


def test_a_deleted_or_edited_manifest_is_written_again(tmp_path):
    archive = write_dsb_zip(tmp_path / "in.zip", _items(12))
    first = _plan(archive, tmp_path / "m")
    (tmp_path / "m" / "shard-0001.json").unlink()
    second = _plan(archive, tmp_path / "m")
    assert not second["cached"] and second["shards"] == first["shards"]
    assert json.loads((tmp_path / "m" / "shard-0001.json").read_text())["fingerprint"] == \
        first["shards"]["0001"]["fingerprint"]
    (tmp_path / "m" / "unassigned.json").write_text("[]  ")
    assert not _plan(archive, tmp_path / "m")["cached"]
    assert _plan(archive, tmp_path / "m")["cached"]


def test_settings_that_shape_the_plan_are_part_of_the_key(tmp_path):
    archive = write_dsb_zip(tmp_path / "in.zip", _items(12))
    _plan(archive, tmp_path / "m")
    assert not _plan(archive, tmp_path / "m", n_shards=6)["cached"]
    assert not _plan(archive, tmp_path / "m", n_shards=6, limits={"max_total_mb": 100, "max_ratio": 50})["cached"]
    assert not _plan(archive, tmp_path / "m", n_shards=6, layout="dsb2018")["cached"]
    assert _plan(archive, tmp_path / "m", n_shards=6, layout="dsb2018")["cached"]


def test_folders_are_listed_every_time(tmp_path):
    for image_id, (image, masks) in _items(8).items():
        (tmp_path / "in" / image_id / "images").mkdir(parents=True)
        (tmp_path / "in" / image_id / "images" / f"{image_id}.png").write_bytes(image)
        (tmp_path / "in" / image_id / "masks").mkdir()
        for i, m in enumerate(masks):
            (tmp_path / "in" / image_id / "masks" / f"m{i}.png").write_bytes(m)
    assert not _plan(tmp_path / "in", tmp_path / "m")["cached"]
    assert not _plan(tmp_path / "in", tmp_path / "m")["cached"]
    assert not (tmp_path / "m" / "plan.json").exists()


def test_errors_are_raised_every_time_not_cached(tmp_path):
    archive = write_dsb_zip(tmp_path / "in.zip", _items(4), extra={"../evil.png": b"x"})
    for _ in range(2):
        with pytest.raises(InputError, match="unsafe path"):
            _plan(archive, tmp_path / "m")
    assert not (tmp_path / "m" / "plan.json").exists()


def test_central_directory_digest_follows_content_not_timestamps(tmp_path):
    archive = write_dsb_zip(tmp_path / "in.zip", _items(3))
    digest = zipindex.central_directory_digest(str(archive))
    assert digest and len(digest) == 64
    os.utime(archive, ns=(5, 5))
    assert zipindex.central_directory_digest(str(archive)) == digest
    write_dsb_zip(archive, _items(3, seed=1))
    assert zipindex.central_directory_digest(str(archive)) != digest
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    assert zipindex.central_directory_digest(str(tmp_path / "junk.zip")) is None


def _manifests(folder):
    return {p.name: json.loads(p.read_text()) for p in sorted(folder.glob("*.json")) if p.name != "plan.json"}


def test_patched_manifests_are_those_a_full_plan_writes(tmp_path):
    """Same names, new contents (one image re-exported, one mask redrawn with a new size): the patch
    gives byte for byte the manifests and the fingerprints that planning from scratch gives."""
    items = _items(16)
    archive = write_dsb_zip(tmp_path / "in.zip", items, extra={"notes.txt": b"x", "__MACOSX/._a": b"y"})
    _plan(archive, tmp_path / "m")
    items["img02"] = (good_item(40)[0], items["img02"][1])
    items["img09"] = (items["img09"][0], [items["img09"][1][0] + b"\0" * 7] + items["img09"][1][1:])
    write_dsb_zip(archive, items, extra={"notes.txt": b"changed too", "__MACOSX/._a": b"y"})
    patched = _plan(archive, tmp_path / "m")
    assert patched["patched"]
    full = _plan(archive, tmp_path / "fresh")
    assert not full["patched"] and not full["cached"]
    assert patched["shards"] == full["shards"]
    assert _manifests(tmp_path / "m") == _manifests(tmp_path / "fresh")
    assert _plan(archive, tmp_path / "m")["cached"]  # and the cache now holds the new zip


def test_new_removed_or_renamed_members_plan_from_scratch(tmp_path):
    items = _items(12)
    archive = write_dsb_zip(tmp_path / "in.zip", items)
    _plan(archive, tmp_path / "m")
    for change in ("add", "remove", "rename"):
        if change == "add":
            items["img99"] = good_item(99)
        elif change == "remove":
            del items["img04"]
        else:
            items["img05b"] = items.pop("img05")
        write_dsb_zip(archive, items)
        result = _plan(archive, tmp_path / "m")
        assert not result["patched"] and not result["cached"], change
        assert result["shards"] == _plan(archive, tmp_path / f"fresh-{change}")["shards"]
        assert _manifests(tmp_path / "m") == _manifests(tmp_path / f"fresh-{change}")


def test_a_patch_still_refuses_a_zip_bomb(tmp_path):
    items = _items(8)
    archive = write_dsb_zip(tmp_path / "in.zip", items, extra={"big.bin": b"ab" * 1000})
    _plan(archive, tmp_path / "m")
    import zipfile
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:  # same names, one now expands 1000-fold
        for image_id, (image, masks) in items.items():
            zf.writestr(f"{image_id}/images/{image_id}.png", image)
            for i, m in enumerate(masks):
                zf.writestr(f"{image_id}/masks/m{i}.png", m)
        zf.writestr("big.bin", b"\0" * (4 << 20))
    with pytest.raises(InputError, match="max_ratio"):
        _plan(archive, tmp_path / "m")


def test_a_damaged_member_table_plans_from_scratch(tmp_path):
    items = _items(12)
    archive = write_dsb_zip(tmp_path / "in.zip", items)
    _plan(archive, tmp_path / "m")
    table = tmp_path / "m" / plan.MEMBERS
    table.write_bytes(table.read_bytes()[:-4])  # a truncated table: its digest no longer matches
    items["img01"] = good_item(50)
    write_dsb_zip(archive, items)
    result = _plan(archive, tmp_path / "m")
    assert not result["patched"]
    _plan(archive, tmp_path / "fresh")
    assert _manifests(tmp_path / "m") == _manifests(tmp_path / "fresh")
