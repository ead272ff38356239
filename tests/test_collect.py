"""Gathering every shard's prediction files into one folder per kind."""
import pytest

from snakeseg.inference.collect import collect


def test_every_shards_files_are_linked_into_one_folder_per_kind_and_stale_ones_go(tmp_path):
    shards = [tmp_path / "shards" / f"shard-{n}" for n in ("0000", "0001")]
    for n, shard in enumerate(shards):
        for kind in ("masks", "overlays"):
            (shard / kind).mkdir(parents=True)
            (shard / kind / f"img{n}.png").write_bytes(f"{kind} {n}".encode())
    out = [tmp_path / "masks", tmp_path / "overlays"]
    out[0].mkdir()
    (out[0] / "removed.png").write_bytes(b"an image no longer in the input")
    assert collect(shards, out) == 2
    assert sorted(p.name for p in out[0].iterdir()) == ["img0.png", "img1.png"]
    assert (out[1] / "img1.png").read_bytes() == b"overlays 1"
    assert (out[0] / "img0.png").stat().st_ino == (shards[0] / "masks" / "img0.png").stat().st_ino  # no copy
    with pytest.raises(FileNotFoundError, match="shard-0001/instances: no such folder"):
        collect(shards, [tmp_path / "instances"])
