"""Planning at each Snakemake start: list the input once, assign images to shards, write the shards'
manifests (only those whose content changed) for the ``unzip`` jobs.

The manifests sit beside the input on the machine that runs Snakemake and are local inputs of rule
``unzip`` (as the input itself is), so a storage provider never looks for them in its storage. A
zip's plan depends only on its central directory and the settings, so it is cached under a hash of
both: ``snakemake -n`` on an unchanged 10,000-image zip then reads the central directory and one
small file, within 3 s, instead of listing every member. Folders are listed every time.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from .. import atomic
from ..errors import InputError
from . import listing, members, shards, zipread

CACHE_VERSION = 4
CACHE = "plan-cache.json"
UNASSIGNED = "unassigned.json"
_CODE = ("plan.py", "shards.py", "listing.py", "members.py", "zipread.py")


@dataclass
class Plan:
    """The input's shards: per shard name its ``fingerprint``, number of ``items`` (usable images)
    and of images ``set_aside`` when listed; its ``layout`` (dsb2018, paired, images); ``cached``: the
    input is the one planned last time (nothing was listed)."""

    archive: str
    shards: dict[str, dict]
    n_usable: int
    layout: str
    cached: bool = False

    def busy_shards(self) -> list[str]:
        """The shards with an image, usable or set aside: a few new images get jobs for their shards
        only, not for the empty ones too."""
        return sorted(name for name, s in self.shards.items() if s["items"] or s["set_aside"])


def manifest_path(manifest_dir: str | Path, shard: str) -> Path:
    return Path(manifest_dir) / f"shard-{shard}.json"


def _code_digest() -> str:
    here = Path(__file__).parent
    return hashlib.sha256(b"".join((here / name).read_bytes() for name in _CODE)).hexdigest()


def _stamps(manifest_dir: Path, names) -> dict[str, list[int]] | None:
    """Size and mtime of each plan file, or None when one is missing."""
    out = {}
    for path in [manifest_path(manifest_dir, n) for n in names] + [manifest_dir / UNASSIGNED]:
        try:
            st = path.stat()
        except OSError:
            return None
        out[path.name] = [st.st_size, st.st_mtime_ns]
    return out


def _cached(manifest_dir: Path, key: str) -> dict | None:
    """The cached plan, when its key matches and its manifests are on disk as it wrote them."""
    try:
        saved = json.loads((manifest_dir / CACHE).read_text())
    except (OSError, ValueError):
        return None
    if saved.get("key") != key or _stamps(manifest_dir, saved.get("shards", {})) != saved.get("stamps"):
        return None
    return saved


def plan(archive: str, layout: str, paired: dict, limits: dict, n_shards: int, manifest_dir: str,
         group_by: str | None = None) -> Plan:
    """Plan a zip or folder: ``manifest_dir`` receives ``shard-XXXX.json`` per shard (rewritten only
    when it changed, so its mtime moves only then) and ``unassigned.json`` (files that belong to no
    image); images whose ids share a ``group_by`` group share a shard. Raises InputError for unusable input."""
    manifest_dir = Path(manifest_dir)
    settings = {"layout": layout, "paired": paired or {}, "limits": limits or {}, "n_shards": n_shards,
                "group_by": group_by}
    directory = None if os.path.isdir(archive) else zipread.read_central_directory(archive)
    key = None
    if directory is not None:
        text = json.dumps([CACHE_VERSION, settings, directory.digest(), _code_digest()], sort_keys=True)
        key = hashlib.sha256(text.encode()).hexdigest()
        saved = _cached(manifest_dir, key)
        if saved is not None:
            return Plan(archive, saved["shards"], saved["n_usable"], saved["layout"], cached=True)
    inventory = listing.list_input(archive, layout, paired, limits, directory=directory)
    with members.gc_paused():
        manifests = shards.build_manifests(inventory, n_shards, group_by)
    for name, manifest in manifests.items():
        atomic.write_json_if_changed(manifest_path(manifest_dir, name), manifest)
    atomic.write_json_if_changed(manifest_dir / UNASSIGNED, [{"file": f, "reason": r} for f, r in inventory.unassigned])
    summary = {name: {"fingerprint": m["fingerprint"], "items": len(m["items"]), "set_aside": len(m["set_aside"])}
               for name, m in manifests.items()}
    result = Plan(archive, summary, len(inventory.usable()), inventory.layout)
    if key:
        atomic.write_json(manifest_dir / CACHE, {"key": key, "shards": summary, "n_usable": result.n_usable,
                                                 "layout": result.layout,
                                                 "stamps": _stamps(manifest_dir, summary)})
    return result


def check_usable(result: Plan, manifest_dir: str | Path) -> None:
    """InputError when no image is usable, naming why one was set aside (from the manifests in
    ``manifest_dir``): before any job runs, for the training data and a test set alike."""
    if result.n_usable == 0:
        aside = [(i, e) for p in sorted(Path(manifest_dir).glob("shard-*.json"))
                 for i, e in json.loads(p.read_text())["set_aside"].items()]
        example = f"; {len(aside)} set aside, e.g. {aside[0][0]}: {aside[0][1]['reason']}" if aside else ""
        raise InputError(result.archive, f"has no usable image{example}",
                         "fix what the reasons say (for paired folders whose mask names end in something else "
                         "than the image's name, set paired.mask_suffix, e.g. _cp_masks), then run again")


def check_folds(result: Plan, n_folds: int, manifest_dir: str | Path | None = None) -> None:
    """InputError when no image is usable (:func:`check_usable`, given ``manifest_dir``), or when a
    fold would validate on no image, or on all of them."""
    if manifest_dir is not None:
        check_usable(result, manifest_dir)
    for fold in range(n_folds):
        n_val = sum(s["items"] for name, s in result.shards.items() if shards.fold_of(int(name), n_folds) == fold)
        if n_val == 0 or n_val == result.n_usable:
            raise InputError(result.archive, f"fold {fold} gets {n_val} of {result.n_usable} usable images for "
                             "validation", "use more images, fewer folds (n_folds) or more shards (n_shards)")


def planned_ids(manifest_dir: str | Path) -> set[str]:
    """The ids of every usable image in a plan's shard manifests."""
    return {i for p in Path(manifest_dir).glob("shard-*.json") for i in json.loads(p.read_text())["items"]}


def group_warning(manifest_dir: str | Path, group_by: str | None) -> str | None:
    """A warning naming the planned images whose ids ``group_by`` finds no group in (each is then a
    group of its own), None when it finds one in every id or is not set."""
    pattern = shards.group_pattern(group_by)
    if pattern is None:
        return None
    alone = sorted(i for i in planned_ids(manifest_dir) if shards.group_of(i, pattern) is None)
    if not alone:
        return None
    return (f"snakeseg: group_by '{group_by}' finds no group in {len(alone)} image ids (e.g. {', '.join(alone[:3])}): "
            "each is a group of its own, its fold chosen apart from the others'")


def overlap_warning(train_dir: str | Path, other_dir: str | Path, what: str, risk: str) -> str | None:
    """A warning when ``what`` (test_input, assl.pool) shares image ids with the training data, saying
    the ``risk``; None when the sets are apart."""
    shared = sorted(planned_ids(train_dir) & planned_ids(other_dir))
    if not shared:
        return None
    return (f"snakeseg: {len(shared)} {what} image(s) have the ids of training images ({', '.join(shared[:3])}"
            f"{', ...' if len(shared) > 3 else ''}): if they are the same images, {risk}")
