"""Staging a shard: its files copied out of the input zip or folder into one pack file, and read back.

No OpenCV, NumPy or TensorFlow here: an ``unzip`` job needs none of them.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

from .. import atomic
from ..errors import InputError
from . import zipmember, zipread
from .members import check_member_name

#: The file in ``work/raw/shard-XXXX/`` holding the shard's staged files one after the other.
PACK = "members.bin"


def _changed(container: str, name: str) -> InputError:
    return InputError(f"{container}: '{name}'", "changed after the workflow planned its jobs",
                      "run snakemake again so the shard manifests are refreshed")


def _members(manifest: dict) -> list[dict]:
    return [m for entry in manifest["items"].values() for m in (entry["image"], *entry["masks"])]


def extract_shard(container: str, manifest: dict, out_dir: str) -> int:
    """Stage a shard's files in ``out_dir``: their bytes one after the other in ``members.bin`` (one
    file, not ~10 small files and folders per image), and ``manifest.json``: the shard's manifest plus
    ``staged``, each member's offset and length in the pack.

    Every file is checked against the manifest (size and CRC-32, or size and mtime for a folder), so
    input that changed after planning is refused rather than mixed in. Returns the files staged.
    """
    members = _members(manifest)
    reader = entries = None
    if not os.path.isdir(container):
        entries = zipread.find_entries(container, [m["name"] for m in members])
        reader = zipmember.ZipReader(container)
    staged: dict[str, list[int]] = {}
    try:
        with atomic.atomic_dir(out_dir) as tmp:
            with open(tmp / PACK, "wb") as pack:
                for member in members:
                    check_member_name(member["name"], container)
                    offset = pack.tell()
                    if reader is None:
                        _copy_file(container, member, pack)
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


def _copy_file(folder: str, member: dict, pack) -> None:
    src = os.path.join(folder, member["name"])
    st = os.stat(src)
    if (st.st_size, st.st_mtime_ns) != (member["size"], member["stamp"]):
        raise _changed(folder, member["name"])
    with open(src, "rb") as fh:
        shutil.copyfileobj(fh, pack)


class Pack:
    """The staged files of one shard (``raw_dir``, rule unzip's output), read by name or by offset."""

    def __init__(self, raw_dir: str | os.PathLike):
        self.dir = Path(raw_dir)
        self.manifest = json.loads((self.dir / "manifest.json").read_text())
        self.path = self.dir / PACK
        self._fd = os.open(self.path, os.O_RDONLY)

    def read(self, name: str) -> bytes:
        """The staged file ``name`` (a member of the manifest)."""
        return self.read_at(*self.manifest["staged"][name], what=name)

    def open(self, name: str) -> io.BufferedReader:
        """The staged file ``name`` as a seekable read-only file, read from the pack as it is needed."""
        return io.BufferedReader(_MemberView(self._fd, *self.manifest["staged"][name]))

    def read_at(self, offset: int, length: int, what: str = "a member") -> bytes:
        data = os.pread(self._fd, length, offset)
        if len(data) != length:
            raise InputError(str(self.path), f"is shorter than its index says ({what})",
                             "delete the work folder's raw/ and merged/ shard and run snakemake again")
        return data

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> "Pack":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _MemberView(io.RawIOBase):
    """``length`` bytes of the open file ``fd`` from ``offset``, as a file of their own."""

    def __init__(self, fd: int, offset: int, length: int):
        self._fd, self._start, self._length, self._pos = fd, offset, length, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._length}[whence]
        self._pos = max(0, base + pos)
        return self._pos

    def readinto(self, buffer) -> int:
        data = os.pread(self._fd, max(0, min(len(buffer), self._length - self._pos)), self._start + self._pos)
        buffer[:len(data)] = data
        self._pos += len(data)
        return len(data)
