"""TFRecord files of ``tf.train.Example`` protos, written and read without TensorFlow.

Data-preparation jobs use this instead of ``tf.io.TFRecordWriter`` so they do not
pay TensorFlow's import time. The protobuf wire format of ``tf.train.Example`` is
encoded by hand:

    Example   {1: Features}
    Features  {1: repeated map entry {1: key, 2: Feature}}
    Feature   oneof {1: BytesList {1: repeated bytes},
                     2: FloatList {1: packed repeated float},
                     3: Int64List {1: packed repeated int64}}

A TFRecord file is a sequence of records, each framed as: uint64 little-endian
length, uint32 masked CRC-32C of those 8 length bytes, the data, uint32 masked
CRC-32C of the data.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import struct
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import BinaryIO, Union

import google_crc32c

Scalar = Union[bytes, str, int, float]
FeatureValue = Union[Scalar, Sequence[Scalar]]

_MASK64 = (1 << 64) - 1
_HEADER = struct.Struct("<QI")  # length, masked CRC of the length
_CRC = struct.Struct("<I")


# --- protobuf wire format ---------------------------------------------------------

def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("malformed protobuf: truncated or overlong varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield (field number, wire type, value) for each field of a serialised message."""
    pos = 0
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        wire_type = key & 7
        value: int | bytes
        if wire_type == 0:
            value, pos = _read_varint(buf, pos)
        else:
            if wire_type == 2:
                size, pos = _read_varint(buf, pos)
            elif wire_type in (1, 5):
                size = 8 if wire_type == 1 else 4
            else:
                raise ValueError(f"malformed protobuf: unsupported wire type {wire_type}")
            if pos + size > len(buf):
                raise ValueError("malformed protobuf: field runs past the end of the message")
            value, pos = buf[pos:pos + size], pos + size
        yield key >> 3, wire_type, value


# --- tf.train.Example ---------------------------------------------------------------

def _encode_feature(name: str, value: object) -> bytes:
    """Serialise one ``tf.train.Feature``; an empty list leaves the kind unset."""
    if hasattr(value, "tolist"):  # NumPy scalars and 1-D arrays become Python values
        value = value.tolist()
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if not values:
        return b""
    if all(isinstance(v, (bytes, str)) for v in values):
        items = (v.encode("utf-8") if isinstance(v, str) else v for v in values)
        return _field(1, b"".join(_field(1, item) for item in items))
    if all(isinstance(v, int) for v in values):  # bool is an int
        if not all(-(1 << 63) <= v < (1 << 63) for v in values):
            raise ValueError(f"feature {name!r}: integer outside the int64 range")
        return _field(3, _field(1, b"".join(_varint(v & _MASK64) for v in values)))
    if all(isinstance(v, (int, float)) for v in values):
        return _field(2, _field(1, struct.pack(f"<{len(values)}f", *values)))
    kinds = sorted({type(v).__name__ for v in values})
    raise TypeError(f"feature {name!r}: expected bytes/str, ints or floats (or a list of one kind), "
                    f"got {', '.join(kinds)}")


def encode_example(features: Mapping[str, FeatureValue]) -> bytes:
    """Serialise a ``tf.train.Example`` from {name: value or list of values}.

    bytes/str become a BytesList (str as UTF-8), int/bool/NumPy integers an
    Int64List, float/NumPy floats a FloatList (float32; a list mixing ints and
    floats too). NumPy arrays count as lists. Keys are written in sorted order, so
    equal dicts give equal bytes (the same bytes as TensorFlow's deterministic
    serialisation).
    """
    entries = (_field(1, _field(1, key.encode("utf-8")) + _field(2, _encode_feature(key, features[key])))
               for key in sorted(features))
    return _field(1, b"".join(entries))


def _decode_feature(buf: bytes) -> list:
    kind, payload = 0, b""
    for number, _, value in _fields(buf):
        if number in (1, 2, 3):  # oneof: the last kind seen wins, repeats of it merge
            payload = payload + value if number == kind else value
            kind = number
    out: list = []
    for number, wire_type, value in _fields(payload):
        if number != 1:
            continue
        if kind == 1 and wire_type == 2:
            out.append(value)
        elif kind == 2 and wire_type in (2, 5):  # packed or unpacked float
            if len(value) % 4:
                raise ValueError("malformed protobuf: packed floats not a multiple of 4 bytes")
            out.extend(struct.unpack(f"<{len(value) // 4}f", value))
        elif kind == 3 and wire_type in (0, 2):  # unpacked or packed int64
            raw = [value] if wire_type == 0 else _unpack_varints(value)
            out.extend(v - (1 << 64) if v & (1 << 63) else v for v in (r & _MASK64 for r in raw))
        else:
            raise ValueError(f"malformed protobuf: wire type {wire_type} in feature list kind {kind}")
    return out


def _unpack_varints(buf: bytes) -> list[int]:
    values, pos = [], 0
    while pos < len(buf):
        value, pos = _read_varint(buf, pos)
        values.append(value)
    return values


def decode_example(data: bytes) -> dict[str, list]:
    """Parse a serialised ``tf.train.Example`` into {name: list of values}.

    Values are bytes, int or float (float32 precision) according to the feature's
    kind; a feature with no kind set decodes to an empty list.
    """
    result: dict[str, list] = {}
    for number, _, features in _fields(data):
        if number != 1:
            continue
        for entry_number, _, entry in _fields(features):
            if entry_number != 1:
                continue
            key, feature = b"", b""
            for field_number, _, value in _fields(entry):
                if field_number == 1:
                    key = value
                elif field_number == 2:
                    feature += value  # repeated occurrences of a message field merge
            result[key.decode("utf-8")] = _decode_feature(feature)
    return result


# --- TFRecord framing ---------------------------------------------------------------

class TFRecordCorruptError(ValueError):
    """A TFRecord file is truncated or fails a checksum."""

    def __init__(self, path: str | os.PathLike, offset: int, reason: str):
        self.path = os.fspath(path)
        self.offset = offset
        self.reason = reason
        super().__init__(f"{self.path}: TFRecord file is truncated or corrupt at byte offset {offset} "
                         f"({reason}); delete it and rebuild it")


def _masked_crc(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


class TFRecordWriter:
    """Write records to ``path`` atomically.

    Records go to a hidden temporary sibling, which is fsynced and renamed onto
    ``path`` only when the ``with`` block exits without an exception; otherwise it
    is deleted and any existing ``path`` is left untouched.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        directory, name = os.path.split(os.path.abspath(self.path))
        self._tmp = os.path.join(directory, f".{name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
        self._file: BinaryIO | None = None

    def __enter__(self) -> TFRecordWriter:
        self._file = open(self._tmp, "xb")
        return self

    def write(self, record: bytes) -> None:
        """Append one record (e.g. the output of :func:`encode_example`)."""
        if self._file is None:
            raise RuntimeError("TFRecordWriter.write() called outside its `with` block")
        record = bytes(record)
        length = struct.pack("<Q", len(record))
        self._file.write(b"".join((length, _CRC.pack(_masked_crc(length)), record,
                                   _CRC.pack(_masked_crc(record)))))

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        file, self._file = self._file, None
        assert file is not None
        committed = False
        try:
            if exc_type is None:
                file.flush()
                os.fsync(file.fileno())
                file.close()
                os.replace(self._tmp, self.path)
                committed = True
        finally:
            file.close()
            if not committed:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self._tmp)


def _scan(file: BinaryIO, path: str | os.PathLike, verify: bool) -> Iterator[tuple[int, int]]:
    """Yield (offset, length) per record, leaving ``file`` at the record's data.

    Checks that every record fits in the file and, with ``verify``, the length CRC.
    """
    size = os.fstat(file.fileno()).st_size
    offset = 0
    while offset < size:
        file.seek(offset)
        header = file.read(_HEADER.size)
        if len(header) < _HEADER.size:
            raise TFRecordCorruptError(path, offset, "file ends inside a record header")
        length, length_crc = _HEADER.unpack(header)
        if verify and _masked_crc(header[:8]) != length_crc:
            raise TFRecordCorruptError(path, offset, "length checksum mismatch")
        end = offset + _HEADER.size + length + _CRC.size
        if end > size:
            raise TFRecordCorruptError(path, offset, f"record of {length} bytes runs past the end "
                                                     f"of the file ({size} bytes)")
        yield offset, length
        offset = end


def read_records(path: str | os.PathLike, verify: bool = True) -> Iterator[bytes]:
    """Yield each record's data; with ``verify``, check both CRCs of every record.

    Raises :class:`TFRecordCorruptError` on truncation or a checksum mismatch.
    """
    with open(path, "rb") as file:
        for offset, length in _scan(file, path, verify):
            data = file.read(length)
            (data_crc,) = _CRC.unpack(file.read(_CRC.size))
            if verify and _masked_crc(data) != data_crc:
                raise TFRecordCorruptError(path, offset, "data checksum mismatch")
            yield data


def count_records(path: str | os.PathLike) -> int:
    """Count records by seeking from header to header, without reading their data.

    Detects truncation and corrupt length headers, not corrupt data.
    """
    with open(path, "rb") as file:
        return sum(1 for _ in _scan(file, path, verify=True))
