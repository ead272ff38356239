"""Per-shard data preparation: stage the files, normalise masks, write TFRecords. No TensorFlow here.

OpenCV and NumPy (and this package's modules that import them) are imported inside the
functions that decode images: an ``unzip`` job needs neither and starts about 0.15 s sooner
without them, once per shard.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from . import atomic, tfrecord, zipindex
from .errors import InputError
from .sources import check_member_name

if TYPE_CHECKING:
    import numpy as np

    from .masks import MaskSpec


def _changed(container: str, name: str) -> InputError:
    return InputError(f"{container}: '{name}'", "changed after the workflow planned its jobs",
                      "run snakemake again so the shard manifests are refreshed")


def _members(manifest: dict) -> list[str]:
    return [m["name"] for entry in manifest["items"].values() for m in (entry["image"], *entry["masks"])]


#: The file in ``work/raw/shard-XXXX/`` holding the shard's staged files one after the other.
PACK = "members.bin"


def extract_shard(container: str, manifest: dict, out_dir: str) -> int:
    """Stage a shard's files (from a zip or a folder) in ``out_dir``: their bytes one after the other
    in ``members.bin``, and ``manifest.json`` (the shard's manifest plus ``staged``: each member's
    offset and length in the pack). One file instead of one per member: creating ~10 small files
    and 4 folders per image cost more than reading and inflating them.

    Every file is checked against the manifest (size and CRC-32 or mtime), so input that
    changed after the DAG was built is caught rather than silently mixed in. Zip members are
    located with :mod:`snakeseg.zipindex` (one walk over the central directory's bytes, only this
    shard's names decoded), read at their local header offset and inflated with zlib; their
    CRC-32 and size are checked against the central directory. Returns the number of files staged.
    """
    reader = entries = None
    if not os.path.isdir(container):
        entries = zipindex.find_entries(container, _members(manifest))
        reader = zipindex.ZipReader(container)
    staged: dict[str, list[int]] = {}
    try:
        with atomic.atomic_dir(out_dir) as tmp:
            with open(tmp / PACK, "wb") as pack:
                for entry in manifest["items"].values():
                    for member in (entry["image"], *entry["masks"]):
                        check_member_name(member["name"], container)
                        offset = pack.tell()
                        if reader is None:
                            src = os.path.join(container, member["name"])
                            st = os.stat(src)
                            if (st.st_size, st.st_mtime_ns) != (member["size"], member["stamp"]):
                                raise _changed(container, member["name"])
                            with open(src, "rb") as fh:
                                shutil.copyfileobj(fh, pack)
                        else:
                            info = entries.get(member["name"])
                            if info is None or (info.file_size, info.crc) != (member["size"], member["stamp"]):
                                raise _changed(container, member["name"])
                            reader.copy(info, pack)
                        staged[member["name"]] = [offset, pack.tell() - offset]
            # Inside the temporary directory: its rename is the commit point, no fsync per file.
            atomic.write_json(tmp / "manifest.json", {**manifest, "staged": staged}, fsync=False)
    finally:
        if reader is not None:
            reader.close()
    return len(staged)


def _read_staged(fd: int, path: Path | str, offset: int, length: int, what: str) -> bytes:
    """``length`` bytes at ``offset`` of an open pack; InputError when the pack is shorter."""
    data = os.pread(fd, length, offset)
    if len(data) != length:
        raise InputError(str(path), f"is shorter than its index says ({what})",
                         "delete the work folder's raw/ and merged/ shard and run snakemake again")
    return data


class _Pack:
    """Reads staged members out of a shard's ``members.bin``."""

    def __init__(self, raw_dir: Path, staged: dict[str, list[int]]):
        self.path = raw_dir / PACK
        self.staged = staged
        self._fd = os.open(self.path, os.O_RDONLY)

    def read(self, name: str) -> bytes:
        return _read_staged(self._fd, self.path, *self.staged[name], name)

    def close(self) -> None:
        os.close(self._fd)


def read_image_bytes(item: dict) -> bytes:
    """The image file of a merged index entry: ``image_at`` (offset, length) in the pack
    ``image``, or the whole file ``image`` when the entry has no ``image_at``."""
    if "image_at" not in item:
        return Path(item["image"]).read_bytes()
    fd = os.open(item["image"], os.O_RDONLY)
    try:
        return _read_staged(fd, item["image"], *item["image_at"], f"image of {item['id']}")
    finally:
        os.close(fd)


def _label_map(entry: dict, pack: _Pack, spec: MaskSpec) -> tuple[np.ndarray, dict, dict]:
    """Decode an item's image and masks; (image, label map, QA record). Raises InputError."""
    import cv2
    import numpy as np

    from .imageio import decode_image_info, decode_mask
    from .masks import IGNORE, merge_instances, normalise

    image, info = decode_image_info(pack.read(entry["image"]["name"]), entry["image"]["name"])
    maps, records = [], []
    for m in entry["masks"]:
        raw = decode_mask(pack.read(m["name"]), m["name"])
        if raw.shape[:2] != image.shape[:2]:
            raise InputError(m["name"], f"mask size {raw.shape[1]}x{raw.shape[0]} differs from "
                             f"image size {image.shape[1]}x{image.shape[0]}",
                             "fix or remove the mask so it matches its image")
        labels, record = normalise(raw, m["name"], spec)
        maps.append(labels)
        records.append(record)
    if entry["kind"] == "instances":
        labels, n_instances = merge_instances(maps)
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
        "pixel_hash": hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest(),
    }
    qa["empty_mask"] = qa["coverage"] == 0
    return image, labels, qa


#: Modules whose code decides what merge_masks writes: a memo made by other code is not used.
_MERGE_CODE = ("dataprep.py", "masks.py", "imageio.py")


class _Memo:
    """What merge_masks made last time for a shard, so a rerun redoes only the images that changed.

    A folder beside the output (``work/memo/merge_masks/shard-XXXX``) holding hard links to the
    last output's label maps and ``memo.json``: per image id, the fingerprint of its manifest entry
    (member names, sizes and CRC-32s) and its QA record. Snakemake deletes a job's output before it
    runs it, but not these links. An entry is used only when the image's entry, the mask settings
    and the code that merges (``_MERGE_CODE``) are all unchanged; anything else is merged afresh.
    The memo is replaced atomically after the output is committed, and costs no copies: links, or
    copies where the file system has no hard links.
    """

    def __init__(self, path: str | os.PathLike | None, spec: MaskSpec):
        self.path = Path(path) if path else None
        here = Path(__file__).parent
        self.context = hashlib.sha256(json.dumps([repr(spec), [hashlib.sha256((here / n).read_bytes()).hexdigest()
                                                               for n in _MERGE_CODE]]).encode()).hexdigest()
        self.items: dict = {}
        if self.path is not None:
            try:
                saved = json.loads((self.path / "memo.json").read_text())
                if saved.get("context") == self.context:
                    self.items = saved["items"]
            except (OSError, ValueError, KeyError):
                pass
        self.new: dict = {}

    @staticmethod
    def key(entry: dict) -> str:
        return hashlib.sha256(json.dumps(entry, sort_keys=True).encode()).hexdigest()

    def reuse(self, image_id: str, key: str, dst: Path) -> dict | None:
        """Link the remembered label map of ``image_id`` to ``dst`` and return its QA record, or None."""
        hit = self.items.get(image_id)
        if hit is None or hit["key"] != key:
            return None
        try:
            _link_or_copy(self.path / f"{image_id}.png", dst)
        except OSError:
            return None
        return hit["qa"]

    def remember(self, image_id: str, key: str, qa: dict) -> None:
        self.new[image_id] = {"key": key, "qa": qa}

    def save(self, out_dir: Path) -> None:
        """Replace the memo by links to ``out_dir``'s label maps. A memo that cannot be written
        (disk full, permissions) only costs the next run its shortcut: logged, not raised."""
        if self.path is None:
            return
        try:
            with atomic.atomic_dir(self.path) as tmp:
                for image_id in self.new:
                    _link_or_copy(out_dir / f"{image_id}.png", tmp / f"{image_id}.png")
                atomic.write_json(tmp / "memo.json", {"context": self.context, "items": self.new}, fsync=False)
        except OSError as exc:
            logging.getLogger("snakeseg").warning("could not update the memo %s (%s); the next run of this "
                                                  "shard merges all its images again", self.path, exc)


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError as exc:
        if not src.exists():
            raise
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        shutil.copyfile(src, dst)


def merge_shard(raw_dir: str, out_dir: str, spec: MaskSpec | None = None, memo_dir: str | None = None) -> dict:
    """One label map per image in ``out_dir/<id>.png`` (0 background, 1..n classes, 255 ignored).

    DSB2018 instance masks are merged (their count kept); single masks are normalised.
    Writes ``index.json`` with a QA record per image; images that cannot be used
    (unreadable file, size mismatch, stray values under ``strict``) are set aside with
    the reason, next to those the manifest already set aside. With ``memo_dir`` (see
    :class:`_Memo`), images whose files did not change since the last run are not decoded
    again: their label map and QA record are taken from the memo. Returns the index, with
    ``"reused"``: how many images came from the memo.
    """
    from .masks import MaskSpec

    spec = MaskSpec() if spec is None else spec
    raw = Path(raw_dir)
    manifest = json.loads((raw / "manifest.json").read_text())
    index = {"shard": manifest["shard"], "items": [], "set_aside": dict(manifest["set_aside"])}
    memo = _Memo(memo_dir, spec)
    reused = 0
    pack = _Pack(raw, manifest["staged"])
    with contextlib.closing(pack), atomic.atomic_dir(out_dir) as tmp:
        for image_id, entry in manifest["items"].items():
            key = memo.key(entry)
            qa = memo.reuse(image_id, key, tmp / f"{image_id}.png")
            if qa is not None:
                reused += 1
            else:
                try:
                    _, labels, qa = _label_map(entry, pack, spec)
                except InputError as err:
                    files = [entry["image"]["name"]] + [m["name"] for m in entry["masks"]]
                    index["set_aside"][image_id] = {"reason": f"{err.path}: {err.problem}", "files": files}
                    continue
                from .imageio import encode_png

                atomic.write_bytes(tmp / f"{image_id}.png", encode_png(labels, rgb=False), fsync=False)
            memo.remember(image_id, key, qa)
            index["items"].append({"id": image_id, "image": str(pack.path), "image_at": pack.staged[entry["image"]["name"]],
                                   "source": entry["image"]["name"], **qa})
        atomic.write_json(tmp / "index.json", index, fsync=False)
    memo.save(Path(out_dir))
    return {**index, "reused": reused}


def resize_pair(image: np.ndarray, mask: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Resize an image (area interpolation) and its label map (nearest) to size x size."""
    import cv2

    image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    mask = cv2.resize(mask, (size, size), interpolation=cv2.INTER_NEAREST)
    return image, mask


def make_shard(merged_dir: str, out_tfrecord: str, out_index: str, size: int) -> dict:
    """Write a shard's image/label-map pairs, resized to ``size``, as a TFRecord plus a JSON index.

    The index records the item count so training knows its steps without reading the data.
    Files already at ``size`` x ``size`` are stored as they are when TensorFlow decodes them to
    the same pixels (8-bit grey/RGB/RGBA PNG images, the merged masks): no decoding, resizing
    or encoding. Others are decoded, resized and encoded as PNG.
    """
    from .png import is_plain_png

    merged = Path(merged_dir)
    index = json.loads((merged / "index.json").read_text())
    with tfrecord.TFRecordWriter(out_tfrecord) as writer:
        for item in index["items"]:
            image_bytes = read_image_bytes(item)
            mask_bytes = (merged / f"{item['id']}.png").read_bytes()
            if (item["height"], item["width"]) != (size, size):
                from .imageio import decode_image, decode_mask, encode_png

                image, mask = resize_pair(decode_image(image_bytes, item["image"]),
                                          decode_mask(mask_bytes, item["id"]), size)
                image_bytes, mask_bytes = encode_png(image), encode_png(mask, rgb=False)
            elif not is_plain_png(image_bytes, size, size):
                from .imageio import decode_image, encode_png

                image_bytes = encode_png(decode_image(image_bytes, item["image"]))
            writer.write(tfrecord.encode_example({
                "id": item["id"],
                "image": image_bytes,
                "mask": mask_bytes,
                "height": item["height"],
                "width": item["width"],
                "n_instances": item["n_instances"],
            }))
    summary = {"shard": index["shard"], "count": len(index["items"]), "image_size": size,
               "ids": [item["id"] for item in index["items"]], "set_aside": index["set_aside"]}
    atomic.write_json(out_index, summary)
    return summary
