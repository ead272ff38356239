"""Planning, done each time Snakemake starts: list the input, assign images to shards and write
the shard manifests (only those whose content changed).

For a zip, the plan is a pure function of its central directory (names, sizes, CRC-32s) and of
the config keys that shape it, so it is cached in ``<work>/manifests/plan.json`` under a key made
of both and of this package's planning code. A run on an unchanged zip then reads the zip's
central directory and that one file instead of listing, inventorying and comparing every member,
which is most of a dry run's time at 10,000 images. The cache is only trusted while the manifest
files it describes are still on disk unchanged (size and mtime).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from . import atomic, shards, sources, zipindex
from .errors import InputError

CACHE_VERSION = 1
_CODE = ("plan.py", "shards.py", "sources.py", "zipindex.py")


def _code_digest() -> str:
    here = Path(__file__).parent
    return hashlib.sha256(b"".join((here / name).read_bytes() for name in _CODE)).hexdigest()


def _cache_key(archive: str, layout: str, paired: dict, limits: dict, n_shards: int) -> str | None:
    if os.path.isdir(archive):
        return None  # a folder has no central directory: list it every time
    digest = zipindex.central_directory_digest(archive)
    if digest is None:
        return None
    settings = json.dumps([CACHE_VERSION, layout, paired, limits, n_shards], sort_keys=True, default=str)
    return hashlib.sha256(f"{digest} {settings} {_code_digest()}".encode()).hexdigest()


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


def _load_cached(cache: Path, key: str) -> dict | None:
    try:
        saved = json.loads(cache.read_text())
    except (OSError, ValueError):
        return None
    if saved.get("key") != key:
        return None
    if _stamps(_files(cache.parent, saved["shards"])) != saved["stamps"]:
        return None  # a manifest was removed or edited: plan again
    return saved


def plan(archive: str, layout: str, paired: dict, limits: dict, n_shards: int, n_folds: int,
         manifest_dir: str) -> dict:
    """Write the manifests and return ``{"shards": {name: {"fingerprint", "items"}}, "n_usable",
    "cached"}``. Raises InputError for unusable input or folds that would be empty."""
    manifest_dir = Path(manifest_dir)
    cache = manifest_dir / "plan.json"
    key = _cache_key(archive, layout, paired, limits, n_shards)
    saved = _load_cached(cache, key) if key else None
    cached = saved is not None
    if saved is None:
        inventory = sources.list_input(archive, layout, paired, limits)
        with sources.gc_paused():  # ~100k small dicts, no cycles: collection only slows this down
            manifests = shards.build_manifests(inventory, n_shards)
        for name, manifest in manifests.items():
            atomic.write_json_if_changed(manifest_dir / f"shard-{name}.json", manifest)
        atomic.write_json_if_changed(manifest_dir / "unassigned.json",
                          [{"file": f, "reason": r} for f, r in inventory.unassigned])
        saved = {"key": key, "n_usable": len(inventory.usable()),
                 "shards": {name: {"fingerprint": m["fingerprint"], "items": len(m["items"])}
                            for name, m in manifests.items()}}
        saved["stamps"] = _stamps(_files(manifest_dir, saved["shards"]))
        if key:
            atomic.write_json(cache, saved)
    n_usable = saved["n_usable"]
    for fold in range(n_folds):
        n_val = sum(s["items"] for name, s in saved["shards"].items() if shards.fold_of(int(name), n_folds) == fold)
        if n_val == 0 or n_val == n_usable:
            raise InputError(archive, f"fold {fold} gets {n_val} of {n_usable} usable images for validation",
                             "use more images, fewer folds (n_folds) or more shards (n_shards)")
    return {"shards": saved["shards"], "n_usable": n_usable, "cached": cached}
