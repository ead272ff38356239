"""Tests for snakeseg.tfrecord, checked against TensorFlow's own reader and writer."""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest

from snakeseg.tfrecord import (
    TFRecordCorruptError,
    TFRecordWriter,
    count_records,
    decode_example,
    encode_example,
    read_records,
)

FEATURES = {
    "image": b"\x00\xff\x10binary",
    "name": "h\u00e9llo",
    "label": 3,
    "negative": -5,
    "big": 2**40 + 7,
    "int64_min": -(2**63),
    "int64_max": 2**63 - 1,
    "flag": True,
    "score": 0.5,
    "floats": [1.5, -2.25, 1e30],
    "ints": [1, -1, 2**33, 0],
    "strings": ("a", b"b", ""),
    "np_int": np.int64(-7),
    "np_float": np.float32(0.1),
    "array": np.arange(4, dtype=np.float32) / 3,
}

EXPECTED = {
    "image": [b"\x00\xff\x10binary"],
    "name": ["h\u00e9llo".encode("utf-8")],
    "label": [3],
    "negative": [-5],
    "big": [2**40 + 7],
    "int64_min": [-(2**63)],
    "int64_max": [2**63 - 1],
    "flag": [1],
    "score": [0.5],
    "floats": [1.5, -2.25, float(np.float32(1e30))],
    "ints": [1, -1, 2**33, 0],
    "strings": [b"a", b"b", b""],
    "np_int": [-7],
    "np_float": [float(np.float32(0.1))],
    "array": (np.arange(4, dtype=np.float32) / 3).tolist(),
}


def _tensorflow():
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return tf


def _write(path, records) -> None:
    with TFRecordWriter(path) as writer:
        for record in records:
            writer.write(record)


def test_round_trip():
    decoded = decode_example(encode_example(FEATURES))
    assert decoded == EXPECTED
    assert [type(v) for v in decoded["big"] + decoded["score"] + decoded["image"]] == [int, float, bytes]


def test_encoding_is_deterministic_and_empty_list_allowed():
    assert encode_example({"b": 1, "a": 2}) == encode_example({"a": 2, "b": 1})
    assert decode_example(encode_example({"none": []})) == {"none": []}


def test_decode_accepts_unpacked_repeated_fields():
    def field(number: int, wire_type: int, payload: bytes) -> bytes:
        return bytes([number << 3 | wire_type]) + payload

    def message(number: int, payload: bytes) -> bytes:
        return field(number, 2, bytes([len(payload)]) + payload)

    unpacked_ints = message(3, field(1, 0, b"\x05") + field(1, 0, b"\xff" * 9 + b"\x01"))  # 5, -1
    unpacked_floats = message(2, field(1, 5, struct.pack("<f", 1.5)) + field(1, 5, struct.pack("<f", -2.0)))
    entries = message(1, message(1, b"i") + message(2, unpacked_ints))
    entries += message(1, message(1, b"f") + message(2, unpacked_floats))
    assert decode_example(message(1, entries)) == {"i": [5, -1], "f": [1.5, -2.0]}


@pytest.mark.parametrize("bad, error", [
    ({"x": 2**63}, ValueError),
    ({"x": [1, b"a"]}, TypeError),
    ({"x": None}, TypeError),
    ({"x": [[1]]}, TypeError),
])
def test_encode_rejects_bad_values(bad, error):
    with pytest.raises(error, match="'x'"):
        encode_example(bad)


def test_same_bytes_as_tensorflow():
    tf = _tensorflow()
    example = tf.train.Example(features=tf.train.Features(feature={
        "b": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"x", b"yz"])),
        "f": tf.train.Feature(float_list=tf.train.FloatList(value=[0.25, -3.0])),
        "i": tf.train.Feature(int64_list=tf.train.Int64List(value=[-(2**40), 7])),
    }))
    ours = encode_example({"i": [-(2**40), 7], "f": [0.25, -3.0], "b": [b"x", b"yz"]})
    assert ours == example.SerializeToString(deterministic=True)


def test_tensorflow_reads_our_file(tmp_path):
    tf = _tensorflow()
    path = tmp_path / "ours.tfrecord"
    rows = [dict(FEATURES, label=i, name=f"row{i}") for i in range(3)]
    _write(path, [encode_example(row) for row in rows])

    spec = {
        "image": tf.io.FixedLenFeature([], tf.string),
        "name": tf.io.FixedLenFeature([], tf.string),
        "label": tf.io.FixedLenFeature([], tf.int64),
        "int64_min": tf.io.FixedLenFeature([], tf.int64),
        "int64_max": tf.io.FixedLenFeature([], tf.int64),
        "big": tf.io.FixedLenFeature([], tf.int64),
        "floats": tf.io.FixedLenFeature([3], tf.float32),
        "ints": tf.io.FixedLenFeature([4], tf.int64),
        "strings": tf.io.FixedLenFeature([3], tf.string),
        "np_float": tf.io.FixedLenFeature([], tf.float32),
        "array": tf.io.FixedLenFeature([4], tf.float32),
    }
    parsed = [{k: v.numpy() for k, v in tf.io.parse_single_example(record, spec).items()}
              for record in tf.data.TFRecordDataset(str(path))]
    assert len(parsed) == 3
    for i, got in enumerate(parsed):
        assert got["label"] == i and got["name"] == f"row{i}".encode()
        for key in spec.keys() - {"label", "name"}:
            want = EXPECTED[key] if len(spec[key].shape) else EXPECTED[key][0]
            value = np.asarray(got[key])
            np.testing.assert_array_equal(value, np.asarray(want, dtype=value.dtype), err_msg=key)


def test_we_read_tensorflow_file(tmp_path):
    tf = _tensorflow()
    path = tmp_path / "theirs.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as writer:
        for i in range(5):
            writer.write(tf.train.Example(features=tf.train.Features(feature={
                "id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[f"img{i}".encode()])),
                "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[i - 2, 2**35 * i])),
                "scale": tf.train.Feature(float_list=tf.train.FloatList(value=[i / 4, -0.1])),
            })).SerializeToString())

    decoded = [decode_example(record) for record in read_records(path)]
    assert decoded == [{"id": [f"img{i}".encode()], "label": [i - 2, 2**35 * i],
                        "scale": [i / 4, float(np.float32(-0.1))]} for i in range(5)]
    assert count_records(path) == 5


def test_count_records(tmp_path):
    path = tmp_path / "n.tfrecord"
    records = [b"", b"a", os.urandom(1000), encode_example(FEATURES)]
    _write(path, records)
    assert count_records(path) == len(records)
    assert list(read_records(path)) == records
    _write(path, [])
    assert path.stat().st_size == 0 and count_records(path) == 0


@pytest.mark.parametrize("cut", [1, 4, 11, 12, 20])
def test_truncated_file_raises(tmp_path, cut):
    path = tmp_path / "cut.tfrecord"
    _write(path, [b"first record", b"second record"])
    data = path.read_bytes()
    path.write_bytes(data[:-cut])
    second_offset = 16 + len(b"first record")
    for read in (lambda: list(read_records(path)), lambda: count_records(path)):
        with pytest.raises(TFRecordCorruptError, match="truncated or corrupt") as info:
            read()
        assert str(path) in str(info.value) and "rebuild" in str(info.value)
        assert info.value.offset == second_offset and isinstance(info.value, ValueError)


@pytest.mark.parametrize("position, reason", [
    (0, "length checksum"),    # length field
    (9, "length checksum"),    # length CRC
    (14, "data checksum"),     # data
    (30, "data checksum"),     # data CRC (last byte of the first record)
])
def test_flipped_byte_detected(tmp_path, position, reason):
    path = tmp_path / "flip.tfrecord"
    _write(path, [b"0123456789abcdef", b"next"])
    data = bytearray(path.read_bytes())
    assert position < 16 + 16
    data[position] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(TFRecordCorruptError, match=reason) as info:
        list(read_records(path))
    assert info.value.offset == 0 and str(path) in str(info.value)
    if reason == "data checksum":
        assert len(list(read_records(path, verify=False))) == 2


def test_atomic_writer_on_exception(tmp_path):
    path = tmp_path / "out.tfrecord"
    with pytest.raises(RuntimeError, match="boom"):
        with TFRecordWriter(path) as writer:
            writer.write(b"partial")
            assert len(os.listdir(tmp_path)) == 1  # only the temporary file so far
            raise RuntimeError("boom")
    assert os.listdir(tmp_path) == []

    _write(path, [b"good"])
    before = path.read_bytes()
    with pytest.raises(KeyboardInterrupt):
        with TFRecordWriter(path) as writer:
            writer.write(b"replacement")
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == ["out.tfrecord"]
    assert path.read_bytes() == before and list(read_records(path)) == [b"good"]


def test_atomic_writer_replaces_on_success(tmp_path):
    path = tmp_path / "out.tfrecord"
    _write(path, [b"old"])
    with TFRecordWriter(path) as writer:
        writer.write(b"new")
        assert list(read_records(path)) == [b"old"]  # not visible until the block ends
    assert os.listdir(tmp_path) == ["out.tfrecord"]
    assert list(read_records(path)) == [b"new"]
