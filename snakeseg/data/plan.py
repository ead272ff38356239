"""Planning at each Snakemake start: list the input once, assign images to shards, fingerprint each shard.

Nothing here writes a file a rule reads: rule ``manifest`` writes a shard's manifest when its
fingerprint (a rule parameter) changes. A zip's plan depends only on its central directory and the
settings, so the fingerprints are cached under a hash of both: ``snakemake -n`` on an unchanged
10,000-image zip then reads the central directory and one small file, within 3 s, instead of
listing every member. Folders are listed every time.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .. import atomic
from ..errors import InputError
from . import listing, shards, zipread

CACHE_VERSION = 3
_CODE = ("plan.py", "shards.py", "listing.py", "zipread.py")


@dataclass
class Plan:
    """The input's shards: per shard name its ``fingerprint`` and number of ``items`` (usable images).
    ``manifest(name)`` and ``unassigned()`` give the files rule ``manifest`` writes."""

    archive: str
    settings: dict
    shards: dict[str, dict]
    n_usable: int
    unassigned_fingerprint: str
    cached: bool = False
    _manifests: dict[str, dict] | None = field(default=None, repr=False)
    _unassigned: list[dict] | None = field(default=None, repr=False)

    def _listed(self) -> None:
        if self._manifests is None:  # answered from the cache: list the input now
            fresh = _list(self.archive, None, **self.settings)
            if (fresh.shards, fresh.unassigned_fingerprint) != (self.shards, self.unassigned_fingerprint):
                raise InputError(self.archive, "changed while the workflow was running",
                                 "run snakemake again once the input is complete")
            self._manifests, self._unassigned = fresh._manifests, fresh._unassigned

    def manifest(self, name: str) -> dict:
        self._listed()
        return self._manifests[name]

    def unassigned(self) -> list[dict]:
        self._listed()
        return self._unassigned


def _code_digest() -> str:
    here = Path(__file__).parent
    return hashlib.sha256(b"".join((here / name).read_bytes() for name in _CODE)).hexdigest()


def _list(archive: str, directory: zipread.CentralDirectory | None, layout: str, paired: dict, limits: dict,
          n_shards: int) -> Plan:
    inventory = listing.list_input(archive, layout, paired, limits, directory=directory)
    with listing.gc_paused():
        manifests = shards.build_manifests(inventory, n_shards)
    summary = {name: {"fingerprint": m["fingerprint"], "items": len(m["items"])} for name, m in manifests.items()}
    unassigned = [{"file": f, "reason": r} for f, r in inventory.unassigned]
    settings = {"layout": layout, "paired": paired, "limits": limits, "n_shards": n_shards}
    return Plan(archive, settings, summary, len(inventory.usable()), shards.fingerprint(unassigned), False,
                manifests, unassigned)


def plan(archive: str, layout: str, paired: dict, limits: dict, n_shards: int, cache: str | None = None) -> Plan:
    """The plan of a zip or folder (InputError for unusable input). ``cache``: a JSON file where a
    zip's fingerprints are kept under a hash of its central directory, the settings and this code."""
    settings = {"layout": layout, "paired": paired or {}, "limits": limits or {}, "n_shards": n_shards}
    directory = None if os.path.isdir(archive) else zipread.read_central_directory(archive)
    key = None
    if directory is not None and cache:
        text = json.dumps([CACHE_VERSION, settings, directory.digest(), _code_digest()], sort_keys=True)
        key = hashlib.sha256(text.encode()).hexdigest()
        try:
            saved = json.loads(Path(cache).read_text())
        except (OSError, ValueError):
            saved = {}
        if saved.get("key") == key:
            return Plan(archive, settings, saved["shards"], saved["n_usable"], saved["unassigned"], cached=True)
    result = _list(archive, directory, **settings)
    if key:
        atomic.write_json(cache, {"key": key, "shards": result.shards, "n_usable": result.n_usable,
                                  "unassigned": result.unassigned_fingerprint})
    return result


def check_folds(result: Plan, n_folds: int) -> None:
    """InputError when a fold would validate on no image, or on all of them."""
    for fold in range(n_folds):
        n_val = sum(s["items"] for name, s in result.shards.items() if shards.fold_of(int(name), n_folds) == fold)
        if n_val == 0 or n_val == result.n_usable:
            raise InputError(result.archive, f"fold {fold} gets {n_val} of {result.n_usable} usable images for "
                             "validation", "use more images, fewer folds (n_folds) or more shards (n_shards)")


def write_json(path: str, obj, log_path: str) -> None:
    """Rule manifest and rule unassigned: one plan file, written atomically, and a line in the log."""
    atomic.write_json(path, obj)
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    Path(log_path).write_text(f"wrote {path}\n")
