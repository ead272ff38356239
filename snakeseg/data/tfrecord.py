"""TFRecord files of ``tf.train.Example`` protos, written without TensorFlow.

Hand-written so that data-preparation jobs (one per shard) do not import TensorFlow, which takes
seconds. The protobuf wire format of ``tf.train.Example``:

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
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import BinaryIO, Union

import google_crc32c

Scalar = Union[bytes, str, int, float]
FeatureValue = Union[Scalar, Sequence[Scalar]]

_MASK64 = (1 << 64) - 1
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
