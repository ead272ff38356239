"""Reading zip members at their local header offset, checked against the central directory.

Hand-written because an ``unzip`` job reads one shard's members out of a large zip: ``zipfile``
would first build a ``ZipInfo`` for every member of the whole archive. Members compressed with
anything but STORED or DEFLATED, or encrypted, are read by ``zipfile``.
"""

from __future__ import annotations

import os
import shutil
import struct
import zipfile
import zlib
from typing import BinaryIO

from ..errors import InputError
from .zipread import DEFLATED, STORED, ZipEntry, missing_file, unreadable_zip

_FLAG_ENCRYPTED, _FLAG_PATCHED, _FLAG_STRONG, _FLAG_UTF8 = 0x1, 0x20, 0x40, 0x800
# Local file header: signature, flags, method, name length, extra length.
_LOCAL = struct.Struct("<I2xHH16xHH")
_LOCAL_SIG = 0x04034B50
_FIXED_LOCAL = _LOCAL.size  # 30
_SLACK = 512  # read this much beyond the expected local header + data, to get both in one pread
_WHOLE = 16 << 20  # members up to this size are read and inflated in one go, larger ones in chunks
_CHUNK = 1 << 20


class ZipReader:
    """Reads members at their local header offset; ``with ZipReader(path) as zr: zr.read(entry)``."""

    def __init__(self, path: str):
        self.path = path
        try:
            self._fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            raise missing_file(path) from None
        except OSError as exc:
            raise unreadable_zip(path, exc) from None
        self._zipfile: zipfile.ZipFile | None = None

    def close(self) -> None:
        if self._zipfile is not None:
            self._zipfile.close()
            self._zipfile = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> "ZipReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _corrupt(self, entry: ZipEntry, what: str) -> InputError:
        return InputError(f"{self.path}: member '{entry.name}'", f"cannot be read ({what})",
                          "download or re-create the zip; a truncated or damaged download is the usual cause")

    def _data_offset(self, entry: ZipEntry, prefetch: int) -> tuple[bytes, int]:
        """Check the local header; (up to ``prefetch`` first bytes of the data, the data's offset)."""
        raw_len = len(entry.name.encode("utf-8" if entry.flags & _FLAG_UTF8 else "cp437", "replace"))
        buf = os.pread(self._fd, _FIXED_LOCAL + raw_len + prefetch + _SLACK, entry.header_offset)
        if len(buf) < _FIXED_LOCAL:
            raise self._corrupt(entry, "truncated file header")
        sig, flags, _method, nlen, xlen = _LOCAL.unpack_from(buf)
        if sig != _LOCAL_SIG:
            raise self._corrupt(entry, "bad magic number for file header")
        name_bytes = buf[_FIXED_LOCAL:_FIXED_LOCAL + nlen]
        try:
            local_name = name_bytes.decode("utf-8" if flags & _FLAG_UTF8 else "cp437")
        except UnicodeDecodeError:
            local_name = None
        if local_name is None or local_name.split("\0", 1)[0] != entry.name:
            raise self._corrupt(entry, f"file name in directory {entry.name!r} and header {name_bytes!r} differ")
        start = _FIXED_LOCAL + nlen + xlen
        return buf[start:start + prefetch], entry.header_offset + start

    def read(self, entry: ZipEntry) -> bytes:
        """The member's bytes, checked against the central directory's size and CRC-32."""
        if entry.method not in (STORED, DEFLATED) or entry.flags & (_FLAG_ENCRYPTED | _FLAG_PATCHED | _FLAG_STRONG):
            return self._read_with_zipfile(entry)
        data, offset = self._data_offset(entry, entry.compress_size)
        if len(data) < entry.compress_size:  # a long local extra field: read the data where it is
            data = os.pread(self._fd, entry.compress_size, offset)
        if len(data) != entry.compress_size:
            raise self._corrupt(entry, "truncated member data")
        if entry.method == DEFLATED:
            inflater = zlib.decompressobj(-15)
            try:
                # Never more than one byte past the announced size: a lying entry cannot balloon.
                out = inflater.decompress(data, entry.file_size + 1)
            except zlib.error as exc:
                raise self._corrupt(entry, f"invalid deflate data: {exc}") from None
        else:
            out = data
        self._check(entry, len(out), zlib.crc32(out))
        return out

    def _check(self, entry: ZipEntry, size: int, crc: int) -> None:
        if size != entry.file_size:
            raise self._corrupt(entry, f"{'more than ' if size > entry.file_size else ''}{size} bytes where the "
                                       f"central directory says {entry.file_size}")
        if crc != entry.crc:
            raise self._corrupt(entry, f"bad CRC-32 {crc:08x}, the central directory says {entry.crc:08x}")

    def copy(self, entry: ZipEntry, dst: BinaryIO) -> int:
        """Write the member to ``dst`` (checked like :meth:`read`); large ones in chunks. Returns its size."""
        if entry.compress_size <= _WHOLE and entry.file_size <= _WHOLE:
            data = self.read(entry)
            dst.write(data)
            return len(data)
        if entry.method not in (STORED, DEFLATED) or entry.flags & (_FLAG_ENCRYPTED | _FLAG_PATCHED | _FLAG_STRONG):
            return self._copy_with_zipfile(entry, dst)
        _, pos = self._data_offset(entry, 0)
        left, size, crc = entry.compress_size, 0, 0
        inflater = zlib.decompressobj(-15) if entry.method == DEFLATED else None
        while left:
            chunk = os.pread(self._fd, min(_CHUNK, left), pos)
            if not chunk:
                raise self._corrupt(entry, "truncated member data")
            pos += len(chunk)
            left -= len(chunk)
            while chunk:
                if inflater is None:
                    out, chunk = chunk, b""
                else:
                    try:
                        out = inflater.decompress(chunk, entry.file_size - size + 1)
                    except zlib.error as exc:
                        raise self._corrupt(entry, f"invalid deflate data: {exc}") from None
                    chunk = inflater.unconsumed_tail
                size += len(out)
                if size > entry.file_size:
                    self._check(entry, size, crc)
                crc = zlib.crc32(out, crc)
                dst.write(out)
                if inflater is not None and inflater.eof:
                    break
        self._check(entry, size, crc)
        return size

    def _copy_with_zipfile(self, entry: ZipEntry, dst: BinaryIO) -> int:
        try:
            if self._zipfile is None:
                self._zipfile = zipfile.ZipFile(self.path)
            with self._zipfile.open(entry.name) as src:
                shutil.copyfileobj(src, dst, _CHUNK)
        except (zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError, zlib.error, OSError) as exc:
            raise self._corrupt(entry, str(exc)) from None
        return entry.file_size

    def _read_with_zipfile(self, entry: ZipEntry) -> bytes:
        try:
            if self._zipfile is None:
                self._zipfile = zipfile.ZipFile(self.path)
            with self._zipfile.open(entry.name) as src:
                return src.read()
        except (zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError, zlib.error, OSError) as exc:
            raise self._corrupt(entry, str(exc)) from None
