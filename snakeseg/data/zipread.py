"""A zip's central directory: one read, one walk over its bytes, ``zipfile`` for anything unusual.

Hand-written because ``zipfile.ZipFile`` builds a ``ZipInfo`` per member each time a zip is opened,
and the workflow lists the input at every start: ``snakemake -n`` on a 10,000-image zip must stay
within 3 s. Unusual archives (no end record where it should be, a directory that does not add up,
a corrupt extra field, an unsupported version) get ``zipfile``'s own treatment and messages.
Errors reach the caller as :class:`~snakeseg.errors.InputError` naming the zip.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zipfile
from typing import Iterable, NamedTuple

from ..errors import InputError

STORED, DEFLATED = 0, 8
_FLAG_UTF8 = 0x800
_MAX_EXTRACT_VERSION = 63  # as zipfile.MAX_EXTRACT_VERSION
_U32 = 0xFFFF_FFFF

# End of central directory (22 bytes + comment), ZIP64 locator (20) and ZIP64 end record (56).
_EOCD = struct.Struct("<4s4H2LH")
_EOCD_SIG = b"PK\x05\x06"
_LOC64 = struct.Struct("<4sLQL")
_LOC64_SIG = b"PK\x06\x07"
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_EOCD64_SIG = b"PK\x06\x06"
# Central directory header, fields kept: signature, extract version, flags, method, CRC-32,
# compressed size, size, name length, extra length, comment length, local header offset.
_CD = struct.Struct("<I2xBxHH4xIIIHHH8xI")
_CD_SIG = 0x02014B50


class ZipEntry(NamedTuple):
    """One central-directory entry (header offset corrected for data prepended to the zip)."""

    name: str
    file_size: int
    compress_size: int
    crc: int
    method: int
    header_offset: int
    flags: int

    @property
    def is_dir(self) -> bool:
        return self.name.endswith("/")


class _Unusual(Exception):
    """Something the fast path does not handle: let zipfile deal with the archive."""


def unreadable_zip(path: str, exc: BaseException) -> InputError:
    return InputError(path, f"is not a readable zip file ({exc})",
                      "download it again or re-create it; a truncated download is the usual cause")


def missing_file(path: str) -> InputError:
    return InputError(path, "does not exist",
                      "check the path (config input, test_input, predict_input, or a command's argument)")


# ----------------------------------------------------------------------------------------------
# End of central directory

def _locate_central_directory(fd: int, filesize: int) -> tuple[int, int, int]:
    """(offset of the central directory, its size, concat) as zipfile computes them.

    ``concat`` is what was prepended to the zip (self-extracting archives): zipfile adds it to
    every local header offset. Raises _Unusual when zipfile should decide.
    """
    if filesize < _EOCD.size:
        raise _Unusual
    tail_start = max(filesize - (1 << 16) - _EOCD.size - _LOC64.size - _EOCD64.size, 0)
    tail = os.pread(fd, filesize - tail_start, tail_start)
    if len(tail) != filesize - tail_start:
        raise _Unusual
    if tail[-_EOCD.size:-_EOCD.size + 4] == _EOCD_SIG and tail[-2:] == b"\0\0":
        start = len(tail) - _EOCD.size  # no archive comment: the usual case
    else:
        # An archive comment: zipfile takes the last signature within 64 KiB + 22 bytes of the end.
        search_from = max(filesize - (1 << 16) - _EOCD.size, 0) - tail_start
        start = tail.rfind(_EOCD_SIG, search_from)
        if start < 0 or start + _EOCD.size > len(tail):
            raise _Unusual
        comment_size = _EOCD.unpack_from(tail, start)[7]
        if start + _EOCD.size + comment_size != len(tail):
            raise _Unusual  # a comment whose length does not match: leave it to zipfile
    _, disk, disk_cd, n_this, n_total, size_cd, offset_cd, _ = _EOCD.unpack_from(tail, start)
    location = tail_start + start
    zip64 = False
    loc = start - _LOC64.size
    if loc >= 0 and tail[loc:loc + 4] == _LOC64_SIG:
        _, diskno, _, disks = _LOC64.unpack_from(tail, loc)
        if diskno != 0 or disks > 1:
            raise _Unusual  # zipfile: "zipfiles that span multiple disks are not supported"
        rec = loc - _EOCD64.size  # zipfile assumes no zip64 extensible data; so do we
        if rec < 0:
            raise _Unusual
        fields = _EOCD64.unpack_from(tail, rec)
        if fields[0] == _EOCD64_SIG:
            zip64 = True
            size_cd, offset_cd = fields[8], fields[9]
    if not zip64 and (disk or disk_cd or n_this != n_total or _U32 in (size_cd, offset_cd) or n_total == 0xFFFF):
        raise _Unusual  # multi-disk or ZIP64 markers without a ZIP64 record
    concat = location - size_cd - offset_cd
    if zip64:
        concat -= _EOCD64.size + _LOC64.size
    if offset_cd + concat < 0:
        raise _Unusual
    return offset_cd + concat, size_cd, concat


def _zip64_extra(extra: bytes, file_size: int, compress_size: int, offset: int) -> tuple[int, int, int]:
    """Decode the extra field as zipfile does: ZIP64 sizes and offset; _Unusual when corrupt."""
    pos = 0
    while len(extra) - pos >= 4:
        tp, ln = struct.unpack_from("<HH", extra, pos)
        if pos + 4 + ln > len(extra):
            raise _Unusual
        if tp == 0x0001:
            data, i = extra[pos + 4:pos + 4 + ln], 0
            try:
                if file_size in (0xFFFF_FFFF_FFFF_FFFF, _U32):
                    file_size, = struct.unpack_from("<Q", data, i)
                    i += 8
                if compress_size == _U32:
                    compress_size, = struct.unpack_from("<Q", data, i)
                    i += 8
                if offset == _U32:
                    offset, = struct.unpack_from("<Q", data, i)
            except struct.error:
                raise _Unusual from None
        pos += 4 + ln
    return file_size, compress_size, offset


def _decode_name(raw: bytes, flags: int) -> str:
    name = raw.decode("utf-8") if flags & _FLAG_UTF8 else raw.decode("ascii" if raw.isascii() else "cp437")
    if "\0" in name:  # zipfile truncates names at a NUL byte
        name = name[:name.index("\0")]
    return name


class CentralDirectory(NamedTuple):
    """A zip's central directory as read from disk: its raw bytes and where local headers start."""

    data: bytes
    concat: int  # bytes prepended to the zip (self-extracting archives), added to every header offset
    file_size: int

    def digest(self) -> str:
        """SHA-256 of every member's name, sizes, CRC-32 and offset, and of the zip's size: it
        changes whenever a member's content, name or position does, not when the zip is touched."""
        digest = hashlib.sha256(self.data)
        digest.update(self.file_size.to_bytes(8, "little"))
        return digest.hexdigest()


def _open(path: str) -> int:
    try:
        return os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise missing_file(path) from None
    except OSError as exc:
        raise unreadable_zip(path, exc) from None


def read_central_directory(path: str) -> CentralDirectory | None:
    """One read of the zip's central directory (about 100 bytes per member). None when the zip is
    unusual (multi-disk, malformed): :func:`read_index` then leaves it to ``zipfile``. Raises
    InputError naming the file when it is missing or unreadable."""
    fd = _open(path)
    try:
        size = os.fstat(fd).st_size
        offset, length, concat = _locate_central_directory(fd, size)
        data = os.pread(fd, length, offset)
        return CentralDirectory(data, concat, size) if len(data) == length else None
    except (_Unusual, struct.error):
        return None
    except OSError as exc:
        raise unreadable_zip(path, exc) from None
    finally:
        os.close(fd)


def _walk(directory: CentralDirectory, wanted: dict[bytes, None] | None) -> list[ZipEntry]:
    """Every entry of the central directory, or only those whose raw name is in ``wanted``."""
    cd, concat, size_cd = directory.data, directory.concat, len(directory.data)
    unpack = _CD.unpack_from
    entries: list[ZipEntry] = []
    append = entries.append
    pos = 0
    while pos < size_cd:
        if pos + 46 > size_cd:
            raise _Unusual
        sig, version, flags, method, crc, csize, size, nlen, xlen, clen, offset = unpack(cd, pos)
        if sig != _CD_SIG or version > _MAX_EXTRACT_VERSION:
            raise _Unusual
        p = pos + 46
        pos = p + nlen + xlen + clen
        if pos > size_cd:
            raise _Unusual
        raw = cd[p:p + nlen]
        if wanted is not None and raw not in wanted and 0 not in raw:
            if xlen:
                _zip64_extra(cd[p + nlen:p + nlen + xlen], size, csize, offset)  # validate as zipfile would
            continue
        if xlen:
            size, csize, offset = _zip64_extra(cd[p + nlen:p + nlen + xlen], size, csize, offset)
        name = raw.decode("ascii") if raw.isascii() and 0 not in raw else _decode_name(raw, flags)
        append(ZipEntry(name, size, csize, crc, method, offset + concat, flags))
    return entries


def _zipfile_entries(path: str) -> list[ZipEntry]:
    try:
        with zipfile.ZipFile(path) as zf:
            return [ZipEntry(i.filename, i.file_size, i.compress_size, i.CRC, i.compress_type, i.header_offset,
                             i.flag_bits) for i in zf.infolist()]
    except FileNotFoundError:
        raise missing_file(path) from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise unreadable_zip(path, exc) from None


def _read_entries(path: str, wanted: dict[bytes, None] | None,
                  directory: CentralDirectory | None = None) -> list[ZipEntry]:
    directory = directory or read_central_directory(path)
    if directory is not None:
        try:
            return _walk(directory, wanted)
        except (_Unusual, UnicodeDecodeError):
            pass
    return _zipfile_entries(path)  # the slow path: zipfile, with its own checks and messages


def read_index(path: str, directory: CentralDirectory | None = None) -> list[ZipEntry]:
    """Every entry of the zip's central directory, in order (directories included); ``directory``:
    what :func:`read_central_directory` gave, when the caller has it.

    Agrees with ``zipfile.ZipFile(path).infolist()`` on names, sizes, CRC-32s, methods, flags
    and (corrected) local header offsets. Raises InputError naming the file when it is missing
    or not a readable zip.
    """
    return _read_entries(path, None, directory)


def _raw_names(name: str) -> list[bytes]:
    """The byte strings a central directory may store ``name`` as (UTF-8, or cp437)."""
    out = [name.encode("utf-8")]
    try:
        cp = name.encode("cp437")
    except UnicodeEncodeError:
        return out
    return out if cp == out[0] else out + [cp]


def find_entries(path: str, names: Iterable[str]) -> dict[str, ZipEntry]:
    """The entries of the given names (absent names are left out; a repeated name gives its last
    entry, as ``zipfile.ZipFile.getinfo``). Only those names are decoded, so this costs a walk over
    the central directory's bytes and little more."""
    names = set(names)
    wanted = {raw: None for name in names for raw in _raw_names(name)}
    return {e.name: e for e in _read_entries(path, wanted) if e.name in names}


