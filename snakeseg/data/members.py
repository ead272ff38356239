"""The files of the input's container, a zip or a folder: names, sizes and change stamps, refusing
unsafe names and zip bombs (:mod:`.listing` sorts them into images and masks)."""

from __future__ import annotations

import contextlib
import gc
import os
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from . import zipread
from ..errors import InputError


class Member(NamedTuple):
    """A file of the input: its path inside the container, size and a change stamp.

    The stamp is the CRC-32 for zip members and the modification time (ns) for files.
    """

    name: str
    size: int
    stamp: int

    def as_dict(self) -> dict:
        return {"name": self.name, "size": self.size, "stamp": self.stamp}


def _is_unsafe(name: str) -> bool:
    """An absolute path, a drive letter or a '..' component (with '\\' read as '/')."""
    norm = name.replace("\\", "/") if "\\" in name else name
    # '..' is a component of PurePosixPath(norm).parts exactly when it is one of norm.split("/").
    return norm[:1] == "/" or norm[1:2] == ":" or (".." in norm and ".." in norm.split("/"))


def check_member_name(name: str, container: str) -> PurePosixPath:
    """Refuse absolute paths and parent references (zip-slip)."""
    if _is_unsafe(name):
        raise InputError(
            f"{container}: member '{name}'",
            "has an unsafe path (absolute, or containing '..') that would be written outside the work folder",
            "repack the zip with relative paths only, e.g. `cd stage1_train && zip -r ../fixed.zip .`",
        )
    return PurePosixPath(name.replace("\\", "/"))


@contextlib.contextmanager
def gc_paused():
    """No cyclic garbage collection while the 100k+ objects of a large listing are made (none is in a
    cycle): the collector would walk the whole heap, Snakemake's included, again and again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def list_members(path: str, max_total_mb: float = 51200, max_ratio: float = 200,
                 directory: zipread.CentralDirectory | None = None) -> list[Member]:
    """The files of a zip or folder, refusing unsafe names and zip bombs. ``directory``: the zip's
    central directory when the caller has read it already."""
    if os.path.isdir(path):
        return _folder_members(path)
    entries = zipread.read_index(path, directory)  # InputError naming the file when missing or unreadable
    members = []
    for entry in entries:
        if _is_unsafe(entry.name):
            check_member_name(entry.name, path)  # raises, naming the member
        if "\\" in entry.name:
            raise InputError(f"{path}: member '{entry.name}'", "uses '\\' as its folder separator, which zips must "
                             "not (Windows PowerShell 5's Compress-Archive writes it)",
                             "unzip it and give the folder, or repack it with 7-Zip or `zip -r`")
        if not entry.name.endswith("/"):
            members.append(Member(entry.name, entry.file_size, entry.crc))
    check_expansion(path, entries, max_total_mb, max_ratio)
    return members


def _folder_members(path: str) -> list[Member]:
    """The files below a folder, linked subfolders followed (each real folder once)."""
    members, seen = [], set()
    for root, dirs, files in os.walk(path, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:  # a link back up the tree
            dirs.clear()
            continue
        seen.add(real)
        dirs.sort()
        for fname in sorted(files):
            full = os.path.join(root, fname)
            try:
                st = os.stat(full)
            except OSError:
                raise InputError(full, "is a link to a file that does not exist", "remove the link, or point it "
                                 "at the file") from None
            members.append(Member(Path(full).relative_to(path).as_posix(), st.st_size, st.st_mtime_ns))
    return members


def check_expansion(path: str, entries: list[zipread.ZipEntry], max_total_mb: float = 51200,
                    max_ratio: float = 200) -> None:
    """Refuse a zip bomb: a member over 1 MiB that expands more than ``max_ratio``-fold, or more
    than ``max_total_mb`` in all (InputError naming the zip or member and the config key)."""
    total = 0
    for e in entries:
        if e.name.endswith("/"):
            continue
        total += e.file_size
        if e.file_size > (1 << 20) and e.file_size > max_ratio * max(e.compress_size, 1):
            raise InputError(f"{path}: member '{e.name}'",
                             f"expands {e.file_size / max(e.compress_size, 1):.0f}-fold "
                             f"(limit limits.max_ratio = {max_ratio:g}), a sign of a zip bomb",
                             "check the file; if it is genuine, raise limits.max_ratio in the config")
    if total > max_total_mb * 1e6:
        raise InputError(path, f"expands to {total / 1e6:.0f} MB, more than limits.max_total_mb = {max_total_mb:g}",
                         "check the zip; if it is genuine, raise limits.max_total_mb in the config")
