"""The TFRecord writer, checked against TensorFlow's own reader and protobuf encoder."""

from __future__ import annotations

import os

import numpy as np
import pytest

from snakeseg.data.tfrecord import TFRecordWriter, encode_example

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


def _records(path) -> list[bytes]:
    """Every record of a file, as TensorFlow's reader (which checks both CRCs) gives them."""
    tf = _tensorflow()
    return [r.numpy() for r in tf.data.TFRecordDataset(str(path))]


def _write(path, records) -> None:
    with TFRecordWriter(path) as writer:
        for record in records:
            writer.write(record)


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
    assert path.read_bytes() == before and _records(path) == [b"good"]


def test_atomic_writer_replaces_on_success(tmp_path):
    path = tmp_path / "out.tfrecord"
    _write(path, [b"old"])
    with TFRecordWriter(path) as writer:
        writer.write(b"new")
        assert _records(path) == [b"old"]  # not visible until the block ends
    assert os.listdir(tmp_path) == ["out.tfrecord"]
    assert _records(path) == [b"new"]


def test_tensorflow_reads_many_records_of_any_size(tmp_path):
    path = tmp_path / "sizes.tfrecord"
    records = [b"", b"x", bytes(range(256)) * 300, b"y" * 127, b"z" * 128]
    _write(path, records)
    assert _records(path) == records


def test_tensorflow_refuses_a_file_whose_data_checksum_we_got_wrong(tmp_path):
    """The data CRC is really checked by the reader: a flipped byte must be caught."""
    tf = _tensorflow()
    path = tmp_path / "flip.tfrecord"
    _write(path, [b"payload-of-some-length"])
    raw = bytearray(path.read_bytes())
    raw[12 + 3] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(tf.errors.DataLossError):
        _records(path)
