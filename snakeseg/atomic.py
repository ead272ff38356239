"""Atomic file and directory writes: write to a temporary sibling, then rename.

A job killed half-way leaves at most a hidden ``.tmp-`` sibling behind, never a
truncated file under the final name.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator


def _tmp_sibling(path: Path, directory: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name[:40]}.tmp-"  # short: a final name near the file system's 255 bytes still fits
    if directory:
        name = tempfile.mkdtemp(prefix=prefix, dir=path.parent)
        os.chmod(name, 0o777 & ~_umask())
        return Path(name)
    fd, name = tempfile.mkstemp(prefix=prefix, dir=path.parent)
    os.close(fd)
    os.chmod(name, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
    return Path(name)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write; it replaces ``path`` only if the block succeeds.

    The data is fsynced before the rename, so that after a crash of the machine the file is
    the old one or the whole new one. ``fsync=False`` skips that (a few ms per file) where
    something else commits the data: a file written inside :func:`atomic_dir`'s temporary
    directory, whose rename is the commit point. A killed process still leaves no truncated
    file under the final name either way.
    """
    path = Path(path)
    tmp = _tmp_sibling(path)
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory; it replaces directory ``path`` only if the block succeeds.

    Files written inside need no fsync of their own (``write_bytes(..., fsync=False)``): nobody
    sees them before the rename, and a job killed before it leaves only the hidden temporary
    directory behind.
    """
    path = Path(path)
    tmp = _tmp_sibling(path, directory=True)
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def write_bytes(path: str | os.PathLike, data: bytes, fsync: bool = True) -> None:
    with atomic_path(path, fsync=fsync) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str, fsync: bool = True) -> None:
    write_bytes(path, text.encode("utf-8"), fsync=fsync)


def dumps_json(obj) -> str:
    return json.dumps(obj, indent=2, sort_keys=True) + "\n"


def write_json(path: str | os.PathLike, obj, fsync: bool = True) -> None:
    write_text(path, dumps_json(obj), fsync=fsync)


def write_json_if_changed(path: str | os.PathLike, obj) -> bool:
    """Write ``obj`` as JSON only when the file does not already hold the same data, so its mtime
    (which Snakemake follows) moves only on change. Returns True when the file was (re)written."""
    path = Path(path)
    try:
        if json.loads(path.read_bytes()) == obj:
            return False
    except (OSError, ValueError):
        pass
    write_json(path, obj)
    return True


def write_csv(path: str | os.PathLike, frame) -> None:
    """Write a pandas DataFrame as CSV, atomically."""
    write_text(path, frame.to_csv(index=False))
