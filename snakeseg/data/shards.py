"""Shard assignment and per-shard manifests with content fingerprints.

An image's shard depends only on its id (a stable hash, not Python's salted ``hash``), so adding
or changing one image moves nothing else. A shard's manifest lists its members with their sizes
and CRC-32s, and its fingerprint changes exactly when they do.
"""

from __future__ import annotations

import hashlib
import json
import re

from ..errors import InputError
from .listing import Inventory


def shard_of(image_id: str, n_shards: int) -> int:
    digest = hashlib.sha256(image_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % n_shards


def group_pattern(group_by: str | None) -> re.Pattern | None:
    """The config's ``group_by`` compiled, or an InputError naming it."""
    if not group_by:
        return None
    try:
        return re.compile(group_by)
    except re.error as err:
        raise InputError("config group_by", f"{group_by!r} is not a regular expression ({err})",
                         "give a Python regular expression, e.g. '^[^_]+' for the part of an id before its first _") from None


def group_of(image_id: str, pattern: re.Pattern | None) -> str | None:
    """The part of ``image_id`` that ``pattern`` (``group_by``) finds, its first group if it has one:
    images with the same one share a shard, so a car's views or a patient's images share a fold.
    None when the pattern finds nothing (the image is a group of its own)."""
    match = pattern.search(image_id) if pattern else None
    group = (match.group(1) if pattern.groups else match.group(0)) if match else None
    return group or None  # an empty match (say of "\\d*") is no group


def fold_of(shard: int, n_folds: int) -> int:
    """Folds are split by shard: shard s validates in fold s mod k."""
    return shard % n_folds


def shard_name(shard: int) -> str:
    return f"{shard:04d}"


def fingerprint(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode("utf-8")).hexdigest()[:16]


def build_manifests(inventory: Inventory, n_shards: int, group_by: str | None = None) -> dict[str, dict]:
    """One manifest per shard (empty shards included), keyed by shard name; with ``group_by``, an
    image's shard is its group's (:func:`group_of`)."""
    pattern = group_pattern(group_by)
    manifests = {shard_name(s): {"shard": shard_name(s), "items": {}, "set_aside": {}} for s in range(n_shards)}
    for image_id, item in inventory.items.items():
        manifest = manifests[shard_name(shard_of(group_of(image_id, pattern) or image_id, n_shards))]
        if item.problem:
            manifest["set_aside"][image_id] = {"reason": item.problem, "files": item.files()}
        else:
            manifest["items"][image_id] = {
                "kind": item.kind,
                "image": item.image.as_dict(),
                "masks": [m.as_dict() for m in item.masks],
            }
    for manifest in manifests.values():
        manifest["fingerprint"] = fingerprint([manifest["items"], manifest["set_aside"]])
    return manifests
