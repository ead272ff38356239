"""The central-directory reader agrees with zipfile; members read by offset are checked."""

import contextlib
import io
import json
import zipfile

import pytest

from helpers import good_item, write_dsb_zip
from snakeseg.data import listing, shards, staging, zipmember, zipread
from snakeseg.errors import InputError

PAYLOADS = {
    "small.txt": b"hello",
    "empty.bin": b"",
    "zeros.bin": b"\0" * 5000,  # compresses well
    "random.bin": bytes((i * 7919 + 13) % 251 for i in range(3000)),
}


@contextlib.contextmanager
def zip64_everywhere():
    """Make zipfile write ZIP64 records (end record, locator, size and offset extras) for a small zip."""
    saved = zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT
    zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = 64, 2
    try:
        yield
    finally:
        zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = saved


def write_zip(path, comment=b"", member_comment=b"", prefix=b""):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("top/", b"")
        zf.writestr("top/images/", b"")
        for i, (name, data) in enumerate(PAYLOADS.items()):
            method = zipfile.ZIP_DEFLATED if i % 2 == 0 else zipfile.ZIP_STORED
            for folder in ("top/images", "top/masks"):
                info = zipfile.ZipInfo(f"{folder}/{name}", date_time=(2018, 1, 1, 0, 0, 0))
                info.compress_type = method
                info.comment = member_comment
                zf.writestr(info, data)
        zf.writestr("top/masks/Ünïcode name.png", b"utf-8 flagged name", zipfile.ZIP_DEFLATED)
        zf.comment = comment
    path.write_bytes(prefix + buf.getvalue())
    return path


def reference(path):
    with zipfile.ZipFile(path) as zf:
        return [(i.filename, i.file_size, i.compress_size, i.CRC, i.compress_type, i.header_offset, i.flag_bits)
                for i in zf.infolist()], {i.filename: zf.read(i) for i in zf.infolist()}


VARIANTS = {
    "plain": {},
    "archive-comment": {"comment": b"an archive comment, 33 bytes long"},
    "long-comment": {"comment": b"x" * 65535},
    "member-comments": {"member_comment": b"a member comment"},
    "prepended-data": {"prefix": b"#!/bin/sh\necho self-extracting stub\n" * 10},
}


@pytest.mark.parametrize("variant", [*VARIANTS, "zip64"])
def test_index_agrees_with_zipfile(tmp_path, variant):
    path = tmp_path / f"{variant}.zip"
    if variant == "zip64":
        with zip64_everywhere():
            write_zip(path)
        raw = path.read_bytes()
        assert b"PK\x06\x06" in raw and b"PK\x06\x07" in raw  # ZIP64 end record and locator were written
    else:
        write_zip(path, **VARIANTS[variant])
    want, _ = reference(path)
    entries = zipread.read_index(str(path))
    assert [tuple(e) for e in entries] == want
    # the fast path itself, not the zipfile fallback, produced them
    assert [tuple(e) for e in zipread._walk(zipread.read_central_directory(str(path)), None)] == want
    assert [e.is_dir for e in entries] == [name.endswith("/") for name, *_ in want]


@pytest.mark.parametrize("variant", [*VARIANTS, "zip64"])
def test_members_read_by_offset_round_trip(tmp_path, variant, monkeypatch):
    path = tmp_path / f"{variant}.zip"
    if variant == "zip64":
        with zip64_everywhere():
            write_zip(path)
    else:
        write_zip(path, **VARIANTS[variant])
    _, data = reference(path)
    files = [n for n in data if not n.endswith("/")]
    found = zipread.find_entries(str(path), files + ["not/there.png"])
    assert sorted(found) == sorted(files)
    with zipmember.ZipReader(str(path)) as zr:
        for name in files:
            assert zr.read(found[name]) == data[name], name
        monkeypatch.setattr(zipmember, "_WHOLE", 16)  # the chunked path, in 1 KiB chunks
        monkeypatch.setattr(zipmember, "_CHUNK", 1024)
        for name in files:
            out = io.BytesIO()
            assert zr.copy(found[name], out) == len(data[name])
            assert out.getvalue() == data[name], name


def test_non_utf8_names_are_cp437_as_in_zipfile(tmp_path):
    path = tmp_path / "cp437.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("caf?/images/caf?.png", b"cp437 name")
    path.write_bytes(path.read_bytes().replace(b"caf?", b"caf\x82"))  # no UTF-8 flag: 0x82 is cp437's e-acute
    want, data = reference(path)
    assert want[0][0] == "café/images/café.png"
    assert [tuple(e) for e in zipread.read_index(str(path))] == want
    found = zipread.find_entries(str(path), ["café/images/café.png"])
    with zipmember.ZipReader(str(path)) as zr:
        assert zr.read(found["café/images/café.png"]) == b"cp437 name"


def test_repeated_name_gives_the_last_entry_as_getinfo_does(tmp_path):
    path = tmp_path / "dup.zip"
    with pytest.warns(UserWarning), zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a/images/a.png", b"first")
        zf.writestr("a/images/a.png", b"second")
    entry = zipread.find_entries(str(path), ["a/images/a.png"])["a/images/a.png"]
    with zipfile.ZipFile(path) as zf:
        assert entry.header_offset == zf.getinfo("a/images/a.png").header_offset
    with zipmember.ZipReader(str(path)) as zr:
        assert zr.read(entry) == b"second"
    assert len(zipread.read_index(str(path))) == 2


def test_other_compression_methods_are_read_by_zipfile(tmp_path):
    path = tmp_path / "bz.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("x/bz2.bin", b"bzip2 data " * 100, zipfile.ZIP_BZIP2)
        zf.writestr("x/lzma.bin", b"lzma data " * 100, zipfile.ZIP_LZMA)
    entries = {e.name: e for e in zipread.read_index(str(path))}
    with zipmember.ZipReader(str(path)) as zr:
        assert zr.read(entries["x/bz2.bin"]) == b"bzip2 data " * 100
        out = io.BytesIO()
        zr.copy(entries["x/lzma.bin"], out)
        assert out.getvalue() == b"lzma data " * 100


def _data_offset(path, name):
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
    raw = path.read_bytes()
    nlen, xlen = int.from_bytes(raw[info.header_offset + 26:info.header_offset + 28], "little"), \
        int.from_bytes(raw[info.header_offset + 28:info.header_offset + 30], "little")
    return info.header_offset + 30 + nlen + xlen, info


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_corrupted_member_is_caught_by_its_crc(tmp_path, method, monkeypatch):
    path = tmp_path / "bad.zip"
    data = bytes(range(256)) * 40
    with zipfile.ZipFile(path, "w", method) as zf:
        zf.writestr("a/images/a.png", data)
    start, info = _data_offset(path, "a/images/a.png")
    raw = bytearray(path.read_bytes())
    if method == zipfile.ZIP_STORED:
        raw[start + 100] ^= 0x01
    else:  # a stored (uncompressed) deflate block would also be read; flip bits until zlib accepts the stream
        raw[start + info.compress_size // 2] ^= 0x10
    path.write_bytes(bytes(raw))
    entry = zipread.find_entries(str(path), ["a/images/a.png"])["a/images/a.png"]
    for whole in (True, False):
        if not whole:
            monkeypatch.setattr(zipmember, "_WHOLE", 16)
        with zipmember.ZipReader(str(path)) as zr, pytest.raises(InputError) as err:
            zr.copy(entry, io.BytesIO())
        msg = str(err.value)
        assert "bad.zip: member 'a/images/a.png': cannot be read" in msg and "Fix:" in msg
        if method == zipfile.ZIP_STORED:
            assert "bad CRC-32" in msg


def test_extract_shard_refuses_a_corrupted_member(tmp_path):
    image, masks = good_item(0)
    archive = write_dsb_zip(tmp_path / "in.zip", {"a": (image, masks)})
    manifest = shards.build_manifests(listing.list_input(str(archive), "dsb2018"), 1)["0000"]
    start, _ = _data_offset(archive, "a/images/a.png")
    raw = bytearray(archive.read_bytes())
    raw[start + 40] ^= 0xFF  # same CRC and size in the central directory: only the data is damaged
    archive.write_bytes(bytes(raw))
    with pytest.raises(InputError, match=r"in.zip: member 'a/images/a.png': cannot be read \(bad CRC-32"):
        staging.extract_shard(str(archive), manifest, tmp_path / "raw")
    assert not (tmp_path / "raw").exists()


def test_extract_shard_stages_the_same_bytes_as_zipfile(tmp_path):
    items = {f"id{i}": good_item(i) for i in range(5)}
    archive = write_dsb_zip(tmp_path / "in.zip", items)
    manifest = shards.build_manifests(listing.list_input(str(archive), "dsb2018"), 1)["0000"]
    n = staging.extract_shard(str(archive), manifest, tmp_path / "raw")
    assert n == 15
    staged = json.loads((tmp_path / "raw" / "manifest.json").read_text())["staged"]
    pack = (tmp_path / "raw" / staging.PACK).read_bytes()
    with zipfile.ZipFile(archive) as zf:
        assert sorted(staged) == sorted(info.filename for info in zf.infolist())
        assert len(pack) == sum(info.file_size for info in zf.infolist())
        for info in zf.infolist():
            offset, length = staged[info.filename]
            assert pack[offset:offset + length] == zf.read(info)


@pytest.mark.parametrize("keep", [0.5, 0.999, 20])
def test_truncated_zip_raises_input_error_naming_the_file(tmp_path, keep):
    archive = write_dsb_zip(tmp_path / "t.zip", {f"i{i}": good_item(i) for i in range(4)})
    data = archive.read_bytes()
    archive.write_bytes(data[: int(len(data) * keep) if keep < 1 else keep])
    for call in (lambda: zipread.read_index(str(archive)), lambda: zipread.find_entries(str(archive), ["x"]),
                 lambda: listing.list_input(str(archive))):
        with pytest.raises(InputError, match="t.zip: is not a readable zip file"):
            call()


def test_missing_zip_is_named(tmp_path):
    with pytest.raises(InputError, match="nope.zip: does not exist"):
        zipread.read_index(str(tmp_path / "nope.zip"))
    with pytest.raises(InputError, match="nope.zip: does not exist"):
        zipmember.ZipReader(str(tmp_path / "nope.zip"))


def test_member_data_cut_off_is_reported(tmp_path):
    archive = write_dsb_zip(tmp_path / "in.zip", {"a": good_item(0)})
    entries = zipread.read_index(str(archive))
    last = max(entries, key=lambda e: e.header_offset)
    archive.write_bytes(archive.read_bytes()[: last.header_offset + 40])
    with zipmember.ZipReader(str(archive)) as zr, pytest.raises(InputError, match="in.zip: member .*cannot be read"):
        zr.read(last)


def test_central_directory_digest_follows_content_not_timestamps(tmp_path):
    items = {f"i{n}": good_item(n) for n in range(3)}
    a = write_dsb_zip(tmp_path / "a.zip", items)
    digest = zipread.read_central_directory(str(a)).digest()
    zipread.os.utime(a, (1e9, 1e9))
    assert zipread.read_central_directory(str(a)).digest() == digest
    b = write_dsb_zip(tmp_path / "b.zip", dict(items, i1=good_item(7)))
    assert zipread.read_central_directory(str(b)).digest() != digest
