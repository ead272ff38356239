"""Writing a shard's training records: image/label-map pairs resized to ``image_size``, as a TFRecord."""

from __future__ import annotations

from pathlib import Path

from .. import atomic
from . import tfrecord
from .items import read_index
from .png import is_plain_png
from .staging import Pack


def resize_pair(image, mask, size: int):
    """Resize an image (area interpolation) and its label map (nearest) to size x size."""
    import cv2

    image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    mask = cv2.resize(mask, (size, size), interpolation=cv2.INTER_NEAREST)
    return image, mask


def make_shard(merged_dir: str, raw_dir: str, out_tfrecord: str, out_index: str, size: int) -> dict:
    """Write a shard's pairs, resized to ``size``, as a TFRecord, and a JSON index with their count
    (training gets its steps from it without reading the data).

    8-bit PNGs already at ``size`` x ``size`` are stored as they are (TensorFlow decodes them to the
    pixels OpenCV gives), so such a job imports neither OpenCV nor NumPy; others are decoded,
    resized and encoded as PNG.
    """
    merged = Path(merged_dir)
    index = read_index(merged)
    with Pack(raw_dir) as pack, tfrecord.TFRecordWriter(out_tfrecord) as writer:
        for item in index["items"]:
            image_bytes = pack.read_at(*item["image_at"], what=item["source"])
            mask_bytes = (merged / f"{item['id']}.png").read_bytes()
            if (item["height"], item["width"]) != (size, size):
                from .imageio import decode_image, decode_mask, encode_png

                image, mask = resize_pair(decode_image(image_bytes, item["source"]),
                                          decode_mask(mask_bytes, item["id"]), size)
                image_bytes, mask_bytes = encode_png(image), encode_png(mask, rgb=False)
            elif not is_plain_png(image_bytes, size, size):
                from .imageio import decode_image, encode_png

                image_bytes = encode_png(decode_image(image_bytes, item["source"]))
            writer.write(tfrecord.encode_example({
                "id": item["id"], "image": image_bytes, "mask": mask_bytes, "height": item["height"],
                "width": item["width"], "n_instances": item["n_instances"],
            }))
    summary = {"shard": index["shard"], "count": len(index["items"]), "image_size": size,
               "ids": [item["id"] for item in index["items"]], "set_aside": index["set_aside"]}
    atomic.write_json(out_index, summary)
    return summary
