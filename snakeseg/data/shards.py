"""Shard assignment and per-shard manifests with content fingerprints.

An image's shard depends only on its id (a stable hash, not Python's salted ``hash``), so adding
or changing one image moves nothing else. A shard's manifest lists its members with their sizes
and CRC-32s, and its fingerprint changes exactly when they do.
"""

from __future__ import annotations

import hashlib
import json

from .listing import Inventory


def shard_of(image_id: str, n_shards: int) -> int:
    digest = hashlib.sha256(image_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % n_shards


def fold_of(shard: int, n_folds: int) -> int:
    """Folds are split by shard: shard s validates in fold s mod k."""
    return shard % n_folds


def shard_name(shard: int) -> str:
    return f"{shard:04d}"


def fingerprint(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode("utf-8")).hexdigest()[:16]


def build_manifests(inventory: Inventory, n_shards: int) -> dict[str, dict]:
    """One manifest per shard (empty shards included), keyed by shard name."""
    manifests = {shard_name(s): {"shard": shard_name(s), "items": {}, "set_aside": {}} for s in range(n_shards)}
    for image_id, item in inventory.items.items():
        manifest = manifests[shard_name(shard_of(image_id, n_shards))]
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
