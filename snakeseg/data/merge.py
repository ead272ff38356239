"""Merging a shard's masks: one label map per image, with a QA record of every decision taken."""

from __future__ import annotations

import hashlib

import cv2
import numpy as np

from .. import atomic
from ..errors import InputError
from .imageio import decode_image_info, decode_mask, encode_png
from .labelmaps import encode_instances
from .masks import IGNORE, MaskSpec, instance_image, merge_instances, normalise, number_instances
from .staging import Pack


def label_map(entry: dict, pack: Pack, spec: MaskSpec,
              channels: list[int] | None = None) -> tuple[np.ndarray, dict, np.ndarray | None]:
    """Decode an item's image and masks; (label map, QA record, object ids or None when the masks
    do not tell objects apart). Raises InputError naming the file."""
    image, info = decode_image_info(pack.read(entry["image"]["name"]), entry["image"]["name"], channels=channels)
    maps, records, ids = [], [], None
    for m in entry["masks"]:
        raw = decode_mask(pack.read(m["name"]), m["name"])
        if raw.shape[:2] != image.shape[:2]:
            swapped = raw.shape[:2] == image.shape[1::-1]  # a JPEG turned upright by its EXIF orientation
            raise InputError(m["name"], f"mask size {raw.shape[1]}x{raw.shape[0]} differs from "
                             f"image size {image.shape[1]}x{image.shape[0]}",
                             "draw the mask on the image as viewers show it (turned upright by its EXIF "
                             "orientation, as snakeseg reads it) or rotate the mask to match" if swapped
                             else "fix or remove the mask so it matches its image")
        if spec.instances and entry["kind"] != "instances":
            labels, ids, record = instance_image(raw, m["name"], spec)
        else:
            labels, record = normalise(raw, m["name"], spec)
        maps.append(labels)
        records.append(record)
    if entry["kind"] == "instances":
        labels, n_instances = merge_instances(maps)
        ids = number_instances(maps)
    elif ids is not None:
        labels, n_instances = maps[0], records[-1]["objects"]  # counted by instance_image
    else:
        labels = maps[0]
        n_instances = cv2.connectedComponents(((labels > 0) & (labels != IGNORE)).astype(np.uint8))[0] - 1
    valid = labels != IGNORE
    qa = {
        "height": int(image.shape[0]), "width": int(image.shape[1]),
        "channels": info["channels"], "dtype": info["dtype"],
        "mask_encoding": "; ".join(sorted({r["mask_encoding"] for r in records})),
        "stray_pixels": sum(r["stray_pixels"] for r in records),
        "stray_values": " ".join(r["stray_values"] for r in records if r["stray_values"]),
        "stray_action": "; ".join(sorted({r["stray_action"] for r in records if r["stray_action"]})),
        "n_instances": int(n_instances),
        "coverage": round(float(((labels > 0) & valid).sum() / max(valid.sum(), 1)), 6),
        "ignored_fraction": round(float((~valid).mean()), 6),
        # several classes: each class's pixels, so a class no mask holds shows before training
        "class_pixels": " ".join(f"{c}:{np.count_nonzero(labels == c)}" for c in range(1, spec.n_classes + 1))
        if spec.n_classes > 1 else "",
        "pixel_hash": hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest(),
    }
    qa["empty_mask"] = qa["coverage"] == 0
    return labels, qa, ids


def merge_shard(raw_dir: str, out_dir: str, spec: MaskSpec | None = None, channels: list[int] | None = None) -> dict:
    """One label map per image in ``out_dir/<id>.png`` (0 background, 1..n classes, 255 ignored) and,
    for masks that tell objects apart, their ids in ``<id>.instances.png`` (16-bit, 0 background; a
    32-bit ``.tif`` past 65,535 objects).

    DSB2018 instance masks are merged (their count kept); single masks are normalised. Writes
    ``index.json``: per usable image its id, source file, the image's place in the shard's pack
    (``image_at``) and its QA record; images that cannot be used (unreadable file, size mismatch,
    stray values under ``strict``) are set aside with the reason, next to those the manifest already
    set aside. Images are read as ``data.channels`` says (``channels``). Returns the index.
    """
    spec = MaskSpec() if spec is None else spec
    with Pack(raw_dir) as pack, atomic.atomic_dir(out_dir) as tmp:
        manifest = pack.manifest
        index = {"shard": manifest["shard"], "items": [], "set_aside": dict(manifest["set_aside"])}
        for image_id, entry in manifest["items"].items():
            try:
                labels, qa, ids = label_map(entry, pack, spec, channels)
            except InputError as err:
                files = [entry["image"]["name"]] + [m["name"] for m in entry["masks"]]
                index["set_aside"][image_id] = {"reason": str(err), "files": files}  # with its fix
                continue
            atomic.write_bytes(tmp / f"{image_id}.png", encode_png(labels, rgb=False), fsync=False)
            if ids is not None:
                data, suffix = encode_instances(ids)
                atomic.write_bytes(tmp / f"{image_id}.instances{suffix}", data, fsync=False)
            index["items"].append({"id": image_id, "source": entry["image"]["name"],
                                   "image_at": manifest["staged"][entry["image"]["name"]], **qa,
                                   "instances": ids is not None})
        atomic.write_json(tmp / "index.json", index, fsync=False)
    return index
