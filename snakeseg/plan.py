"""Planning, done each time Snakemake starts: list the input, assign images to shards and write
the shard manifests (only those whose content changed).

For a zip, the plan is a pure function of its central directory (names, sizes, CRC-32s) and of
the config keys that shape it, so it is cached in ``<work>/manifests/plan.json`` under a key made
of both and of this package's planning code. A run on an unchanged zip then reads the zip's
central directory and that one file instead of listing, inventorying and comparing every member,
which is most of a dry run's time at 10,000 images. The cache is only trusted while the manifest
files it describes are still on disk unchanged (size and mtime).

When the zip changed but its names did not (a round of corrected masks, a re-exported image: the
usual edit), the inventory, the shard of every image and the set-aside list are what they were,
since they depend on names alone; only the sizes and CRC-32s of the changed members differ. The
plan then patches the manifests of the shards holding those members instead of planning again:
``plan.members`` records, for each central-directory entry in order, its size, CRC-32 and shard,
and ``plan.json`` a digest of the names. A changed name, a setting or the planning code plans
from scratch.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from . import atomic, shards, sources, zipindex
from .errors import InputError

if TYPE_CHECKING:
    import numpy as np

CACHE_VERSION = 2
_CODE = ("plan.py", "shards.py", "sources.py", "zipindex.py")
MEMBERS = "plan.members"
_NO_SHARD = -1  # directories, junk, files of set-aside images: no stamp in any manifest


def _code_digest() -> str:
    here = Path(__file__).parent
    return hashlib.sha256(b"".join((here / name).read_bytes() for name in _CODE)).hexdigest()


def _settings_digest(layout: str, paired: dict, limits: dict, n_shards: int) -> str:
    settings = json.dumps([CACHE_VERSION, layout, paired, limits, n_shards], sort_keys=True, default=str)
    return hashlib.sha256(f"{settings} {_code_digest()}".encode()).hexdigest()


def _cache_key(archive: str, directory: zipindex.CentralDirectory | None, settings: str) -> str | None:
    if directory is None:
        return None  # a folder (no central directory: listed every time) or an unusual zip
    digest = zipindex.central_directory_digest(archive, directory)
    return hashlib.sha256(f"{digest} {settings}".encode()).hexdigest()


def _member_table(stamps: np.ndarray, entries: list[zipindex.ZipEntry], manifests: dict[str, dict]) -> bytes | None:
    """``plan.members``: the entry count, then each entry's size and CRC-32 (uint64 pairs, from
    :func:`zipindex.stamp_table`), then its shard (int32, -1 when no manifest stamps it). None when
    names repeat (a member could not be told from its twin)."""
    import numpy as np

    where = {m["name"]: int(name) for name, manifest in manifests.items()
             for item in manifest["items"].values() for m in (item["image"], *item["masks"])}
    if len(stamps) != len(entries) or len({e.name for e in entries}) != len(entries):
        return None
    shards_of = np.fromiter((where.get(e.name, _NO_SHARD) for e in entries), np.int32, len(entries))
    return _table_bytes(stamps, shards_of)


def _table_bytes(stamps: np.ndarray, shards_of: np.ndarray) -> bytes:
    return len(shards_of).to_bytes(8, "little") + stamps.astype("<u8").tobytes() + shards_of.astype("<i4").tobytes()


def _read_member_table(path: Path, digest: str) -> tuple[np.ndarray, np.ndarray] | None:
    import numpy as np

    try:
        data = path.read_bytes()
    except OSError:
        return None
    if hashlib.sha256(data).hexdigest() != digest or len(data) < 8:
        return None
    n = int.from_bytes(data[:8], "little")
    if len(data) != 8 + 16 * n + 4 * n:
        return None
    stamps = np.frombuffer(data, "<u8", 2 * n, 8).reshape(n, 2)
    return stamps, np.frombuffer(data, "<i4", n, 8 + 16 * n)


def _stamps(paths: list[Path]) -> dict[str, list[int]] | None:
    out = {}
    for path in paths:
        try:
            st = path.stat()
        except OSError:
            return None
        out[path.name] = [st.st_size, st.st_mtime_ns]
    return out


def _files(manifest_dir: Path, names) -> list[Path]:
    return [manifest_dir / f"shard-{name}.json" for name in names] + [manifest_dir / "unassigned.json"]


def _read_cache(cache: Path) -> dict | None:
    try:
        saved = json.loads(cache.read_text())
    except (OSError, ValueError):
        return None
    if _stamps(_files(cache.parent, saved.get("shards", {}))) != saved.get("stamps"):
        return None  # a manifest was removed or edited: plan again
    return saved


def _save(cache: Path, saved: dict, table: bytes | None) -> None:
    members = cache.parent / MEMBERS
    if table is None:
        members.unlink(missing_ok=True)
        saved["members"] = None
    else:
        atomic.write_bytes(members, table)
        saved["members"] = hashlib.sha256(table).hexdigest()
    saved["stamps"] = _stamps(_files(cache.parent, saved["shards"]))
    atomic.write_json(cache, saved)


def _patch(archive: str, directory: zipindex.CentralDirectory, saved: dict | None, key: str, settings: str,
           limits: dict, manifest_dir: Path) -> dict | None:
    """The plan of a zip whose names are those of the cached plan: the manifests of the shards whose
    members changed size or CRC-32 patched, the cache updated. None when that does not apply."""
    if saved is None or saved.get("settings") != settings or not saved.get("members"):
        return None
    table = _read_member_table(manifest_dir / MEMBERS, saved["members"])
    if table is None:
        return None
    old_stamps, shard_of_entry = table
    current = zipindex.stamp_table(archive, directory)
    if current is None or current.names_digest != saved["names"] or len(current.stamps) != len(shard_of_entry):
        return None
    import numpy as np

    new_stamps = current.stamps
    sources.check_expansion(archive, current.sizes, current.compress_sizes, current.name, **(limits or {}))
    by_shard: dict[int, dict[str, tuple[int, int]]] = {}
    for i in np.flatnonzero((old_stamps != new_stamps).any(axis=1)).tolist():
        if shard_of_entry[i] != _NO_SHARD:
            size, crc = (int(v) for v in new_stamps[i])
            by_shard.setdefault(int(shard_of_entry[i]), {})[current.name(i)] = (size, crc)
    for shard, changed in by_shard.items():
        name = shards.shard_name(shard)
        path = manifest_dir / f"shard-{name}.json"
        manifest = json.loads(path.read_text())
        for item in manifest["items"].values():
            for member in (item["image"], *item["masks"]):
                stamp = changed.get(member["name"])
                if stamp is not None:
                    member["size"], member["stamp"] = stamp
        manifest["fingerprint"] = shards.fingerprint([manifest["items"], manifest["set_aside"]])
        atomic.write_json_if_changed(path, manifest)
        saved["shards"][name]["fingerprint"] = manifest["fingerprint"]
    saved["key"] = key
    _save(manifest_dir / "plan.json", saved, _table_bytes(new_stamps, shard_of_entry))
    return saved


def plan(archive: str, layout: str, paired: dict, limits: dict, n_shards: int, n_folds: int,
         manifest_dir: str) -> dict:
    """Write the manifests and return ``{"shards": {name: {"fingerprint", "items"}}, "n_usable",
    "cached", "patched"}`` (``cached``: the zip is the one planned last time; ``patched``: only
    member contents changed, their manifests were patched). Raises InputError for unusable input
    or folds that would be empty."""
    manifest_dir = Path(manifest_dir)
    cache = manifest_dir / "plan.json"
    settings = _settings_digest(layout, paired, limits, n_shards)
    directory = None if os.path.isdir(archive) else zipindex.read_central_directory(archive)
    key = _cache_key(archive, directory, settings)
    saved = _read_cache(cache) if key else None
    cached = saved is not None and saved.get("key") == key
    patched = False
    if not cached and key:
        saved = _patch(archive, directory, saved, key, settings, limits, manifest_dir)
        patched = saved is not None
    elif not cached:
        saved = None
    if saved is None:
        entries = zipindex.read_index(archive) if key else None
        inventory = sources.list_input(archive, layout, paired, limits, entries=entries)
        with sources.gc_paused():  # ~100k small dicts, no cycles: collection only slows this down
            manifests = shards.build_manifests(inventory, n_shards)
        for name, manifest in manifests.items():
            atomic.write_json_if_changed(manifest_dir / f"shard-{name}.json", manifest)
        atomic.write_json_if_changed(manifest_dir / "unassigned.json",
                          [{"file": f, "reason": r} for f, r in inventory.unassigned])
        saved = {"key": key, "n_usable": len(inventory.usable()),
                 "shards": {name: {"fingerprint": m["fingerprint"], "items": len(m["items"])}
                            for name, m in manifests.items()}}
        if key:
            table = zipindex.stamp_table(archive, directory)
            saved.update(settings=settings, names=table.names_digest if table else None)
            with sources.gc_paused():
                _save(cache, saved, _member_table(table.stamps, entries, manifests) if table else None)
    n_usable = saved["n_usable"]
    for fold in range(n_folds):
        n_val = sum(s["items"] for name, s in saved["shards"].items() if shards.fold_of(int(name), n_folds) == fold)
        if n_val == 0 or n_val == n_usable:
            raise InputError(archive, f"fold {fold} gets {n_val} of {n_usable} usable images for validation",
                             "use more images, fewer folds (n_folds) or more shards (n_shards)")
    return {"shards": saved["shards"], "n_usable": n_usable, "cached": cached, "patched": patched}
