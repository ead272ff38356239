"""Per-shard data preparation: extract, merge masks, write TFRecords. No TensorFlow here."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path, PurePosixPath

import cv2
import numpy as np

from . import atomic, tfrecord
from .errors import InputError
from .imageio import decode_image, decode_mask, encode_png, read_image, read_mask
from .masks import merge_instances
from .sources import check_member_name


def extract_shard(archive: str, manifest: dict, out_dir: str) -> int:
    """Extract a shard's members to ``out_dir/<id>/{images,masks}/``; returns the file count.

    Every member is checked against the manifest (size and CRC-32), so a zip that
    changed after the DAG was built is caught rather than silently mixed in.
    """
    count = 0
    with zipfile.ZipFile(archive) as zf, atomic.atomic_dir(out_dir) as tmp:
        for image_id, entry in manifest["items"].items():
            for kind, members in (("images", [entry["image"]]), ("masks", entry["masks"])):
                dest_dir = tmp / image_id / kind
                dest_dir.mkdir(parents=True, exist_ok=True)
                for member in members:
                    name = check_member_name(member["name"], archive)
                    info = zf.getinfo(member["name"])
                    if (info.file_size, info.CRC) != (member["size"], member["crc"]):
                        raise InputError(f"{archive}: member '{member['name']}'",
                                         "changed after the workflow planned its jobs",
                                         "run snakemake again so the shard manifests are refreshed")
                    with zf.open(info) as src, open(dest_dir / name.name, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                    count += 1
        atomic.write_json(tmp / "manifest.json", manifest)
    return count


def _set_aside(reason: str, files: list[str]) -> dict:
    return {"reason": reason, "files": files}


def merge_shard(raw_dir: str, out_dir: str) -> dict:
    """Merge each image's instance masks into ``out_dir/<id>.png`` (0/255) and write ``index.json``.

    Images that cannot be used (unreadable image or mask, size mismatch) are set
    aside with their reason, next to those the manifest already set aside.
    """
    raw = Path(raw_dir)
    manifest = json.loads((raw / "manifest.json").read_text())
    index = {"shard": manifest["shard"], "items": [], "set_aside": dict(manifest["set_aside"])}
    with atomic.atomic_dir(out_dir) as tmp:
        for image_id, entry in manifest["items"].items():
            image_dir, mask_dir = raw / image_id / "images", raw / image_id / "masks"
            image_path = image_dir / PurePosixPath(entry["image"]["name"]).name
            try:
                # Decode under the zip member's own name, so errors point at the user's file.
                image = decode_image(image_path.read_bytes(), entry["image"]["name"])
                instances = []
                for m in entry["masks"]:
                    inst = decode_mask((mask_dir / PurePosixPath(m["name"]).name).read_bytes(), m["name"])
                    if inst.shape != image.shape[:2]:
                        raise InputError(m["name"], f"mask size {inst.shape[1]}x{inst.shape[0]} differs from "
                                         f"image size {image.shape[1]}x{image.shape[0]}",
                                         "fix or remove the mask so it matches its image")
                    instances.append(inst)
            except InputError as err:
                files = [entry["image"]["name"]] + [m["name"] for m in entry["masks"]]
                index["set_aside"][image_id] = _set_aside(f"{err.path}: {err.problem}", files)
                continue
            merged, n_instances = merge_instances(instances)
            atomic.write_bytes(tmp / f"{image_id}.png", encode_png(merged, rgb=False))
            index["items"].append({
                "id": image_id, "height": int(image.shape[0]), "width": int(image.shape[1]),
                "n_instances": n_instances, "image": str(image_path),
                "foreground_fraction": round(float((merged > 0).mean()), 6),
            })
        atomic.write_json(tmp / "index.json", index)
    return index


def resize_pair(image: np.ndarray, mask: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Resize an image (area interpolation) and its mask (nearest) to size x size."""
    image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    mask = cv2.resize(mask, (size, size), interpolation=cv2.INTER_NEAREST)
    return image, mask


def make_shard(merged_dir: str, out_tfrecord: str, out_index: str, size: int) -> dict:
    """Write a shard's image/mask pairs, resized to ``size``, as a TFRecord plus a JSON index.

    The index records the item count so training knows its steps without reading the data.
    """
    merged = Path(merged_dir)
    index = json.loads((merged / "index.json").read_text())
    with tfrecord.TFRecordWriter(out_tfrecord) as writer:
        for item in index["items"]:
            image = read_image(item["image"])
            mask = read_mask(merged / f"{item['id']}.png")
            image, mask = resize_pair(image, mask, size)
            writer.write(tfrecord.encode_example({
                "id": item["id"],
                "image": encode_png(image),
                "mask": encode_png(mask, rgb=False),
                "height": item["height"],
                "width": item["width"],
                "n_instances": item["n_instances"],
            }))
    summary = {"shard": index["shard"], "count": len(index["items"]), "image_size": size,
               "ids": [item["id"] for item in index["items"]], "set_aside": index["set_aside"]}
    atomic.write_json(out_index, summary)
    return summary
