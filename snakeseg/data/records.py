"""Writing a shard's training records: image/label-map pairs at their own size (optionally rescaled by
``data.scale``, large ones cut into overlapping tiles of at most ``data.max_tile``), as a TFRecord."""

from __future__ import annotations

import hashlib
from pathlib import Path

from .. import atomic
from . import tfrecord
from .items import read_index
from .png import is_plain_png
from .staging import Pack

#: Overlap of neighbouring tiles of a large image (a fraction of the tile side).
TILE_OVERLAP = 0.125


def resize_pair(image, mask, size: int):
    """Resize an image (area interpolation) and its label map (nearest) to size x size."""
    import cv2

    image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    mask = cv2.resize(mask, (size, size), interpolation=cv2.INTER_NEAREST)
    return image, mask


def scale_pair(image, mask, scale: float):
    """Rescale an image (area when shrinking, linear when growing) and its label map (nearest)."""
    import cv2

    h, w = image.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    image = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    return image, cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)


def tile_starts(length: int, tile: int) -> tuple[list[int], int]:
    """Starts and length of the fewest equal tiles of at most ``tile`` covering ``length``, neighbours
    overlapping by ``TILE_OVERLAP`` of ``tile`` (full-size tiles would overlap by most of a tile on a
    side just over ``tile``, storing and sampling those pixels twice)."""
    if length <= tile:
        return [0], length
    overlap = int(tile * TILE_OVERLAP)
    n = -(-(length - overlap) // (tile - overlap))
    size = -(-(length + (n - 1) * overlap) // n)
    return [round(i * (length - size) / (n - 1)) for i in range(n)], size


def tiles(image, mask, max_tile: int):
    """``(suffix, image tile, mask tile)`` for the tiles of a pair larger than ``max_tile``."""
    (rows, th), (cols, tw) = tile_starts(image.shape[0], max_tile), tile_starts(image.shape[1], max_tile)
    for y in rows:
        for x in cols:
            yield f"@{y},{x}", image[y:y + th, x:x + tw], mask[y:y + th, x:x + tw]


def _examples(item: dict, image_bytes: bytes, mask_bytes: bytes, scale: float, max_tile: int, bit_depth, channels):
    """``(id, image PNG, mask PNG, height, width)`` records of one pair. 8-bit PNGs needing neither
    rescaling nor tiling are stored as they are (no OpenCV or NumPy import); others are decoded,
    rescaled, tiled and encoded again."""
    h, w = item["height"], item["width"]
    if scale == 1 and max(h, w) <= max_tile and channels is None and is_plain_png(image_bytes, w, h):
        yield item["id"], image_bytes, mask_bytes, h, w
        return
    from .imageio import decode_image, decode_mask, encode_png

    image, mask = decode_image(image_bytes, item["source"], bit_depth, channels), decode_mask(mask_bytes, item["id"])
    if scale != 1:
        image, mask = scale_pair(image, mask, scale)
    parts = tiles(image, mask, max_tile) if max(image.shape[:2]) > max_tile else [("", image, mask)]
    for suffix, img, msk in parts:
        yield item["id"] + suffix, encode_png(img), encode_png(msk, rgb=False), img.shape[0], img.shape[1]


def make_shard(merged_dir: str, raw_dir: str, out_tfrecord: str, out_index: str, scale: float = 1.0,
               max_tile: int = 2048, bit_depth: int | str = "auto", channels: list[int] | None = None) -> dict:
    """Write a shard's pairs as a TFRecord and a JSON index of its records (count, sizes, pixels:
    training gets its steps, patch size and memory from it without reading the data). A tile's id
    is its image's id with ``@row,column``; all tiles of an image are in its shard, so in one fold."""
    merged = Path(merged_dir)
    index = read_index(merged)
    ids, sizes, digest = [], [], hashlib.sha256()
    with Pack(raw_dir) as pack, tfrecord.TFRecordWriter(out_tfrecord) as writer:
        for item in index["items"]:
            image_bytes = pack.read_at(*item["image_at"], what=item["source"])
            mask_bytes = (merged / f"{item['id']}.png").read_bytes()
            examples = _examples(item, image_bytes, mask_bytes, scale, max_tile, bit_depth, channels)
            for rec_id, image_png, mask_png, h, w in examples:
                record = tfrecord.encode_example({
                    "id": rec_id, "image": image_png, "mask": mask_png, "height": h, "width": w,
                    "n_instances": item["n_instances"],
                })
                writer.write(record)
                digest.update(record)
                ids.append(rec_id)
                sizes.append([h, w])
    summary = {"shard": index["shard"], "count": len(ids), "images": len(index["items"]), "ids": ids,
               "sizes": sizes, "pixels": sum(h * w for h, w in sizes), "scale": scale, "max_tile": max_tile,
               "digest": digest.hexdigest()[:16], "set_aside": index["set_aside"]}
    atomic.write_json(out_index, summary)
    return summary
