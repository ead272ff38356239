import json
import os

import cv2
import numpy as np
import pytest

from helpers import REPO, good_item, nucleus_image, png, write_dsb_zip
from snakeseg.data import listing, shards, staging
from snakeseg.data.merge import merge_shard
from snakeseg.data.records import make_shard
from snakeseg.errors import InputError


def first_example(path) -> dict:
    """The first record of a TFRecord file, parsed by TensorFlow's own reader and protobuf."""
    from snakeseg.tfenv import tf

    record = next(iter(tf.data.TFRecordDataset([str(path)])))
    features = tf.train.Example.FromString(record.numpy()).features.feature
    return {k: list(v.bytes_list.value) or list(v.int64_list.value) for k, v in features.items()}


def _prepare(tmp_path, items):
    archive = write_dsb_zip(tmp_path / "in.zip", items)
    manifest = shards.build_manifests(listing.list_input(str(archive), "dsb2018"), 1)["0000"]
    staging.extract_shard(str(archive), manifest, tmp_path / "raw")
    index = merge_shard(tmp_path / "raw", tmp_path / "merged")
    summary = make_shard(tmp_path / "merged", tmp_path / "raw", tmp_path / "s.tfrec", tmp_path / "s.json")
    return archive, index, summary


def _merge_paired(tmp_path, images: dict[str, bytes], masks: dict[str, bytes], spec=None) -> dict:
    """A paired folder (``images/<name>``, ``masks/<name>``) staged as one shard and merged; its index."""
    for folder, files in (("images", images), ("masks", masks)):
        (tmp_path / "in" / folder).mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (tmp_path / "in" / folder / name).write_bytes(data)
    manifest = shards.build_manifests(listing.list_input(str(tmp_path / "in"), "paired"), 1)["0000"]
    staging.extract_shard(str(tmp_path / "in"), manifest, tmp_path / "raw")
    return merge_shard(tmp_path / "raw", tmp_path / "merged", spec)


def test_bad_images_are_set_aside_with_the_member_named(tmp_path):
    image, masks = good_item(size=(32, 40))
    _, wrong_size_masks = good_item(size=(20, 20))
    _, turned_masks = good_item(size=(40, 32))  # drawn on the image turned by 90 degrees
    truncated = image[: len(image) // 2]
    _, index, summary = _prepare(tmp_path, {
        "good": (image, masks),
        "truncated": (truncated, masks),
        "badmask": (image, [masks[0], b"not a png"]),
        "mismatch": (image, wrong_size_masks),
        "turned": (image, turned_masks),
        "nomask": (image, []),
    })
    assert summary["ids"] == ["good"] and summary["count"] == 1
    aside = index["set_aside"]
    assert set(aside) == {"truncated", "badmask", "mismatch", "turned", "nomask"}
    assert "EXIF orientation" in aside["turned"]["reason"] and "EXIF" not in aside["mismatch"]["reason"]
    assert aside["truncated"]["reason"].startswith("truncated/images/truncated.png: cannot be decoded")
    assert aside["badmask"]["reason"].startswith("badmask/masks/m1.png: cannot be decoded")
    assert "mask size 20x20 differs from image size 40x32" in aside["mismatch"]["reason"]
    assert aside["nomask"]["reason"].startswith("image without any mask in masks/; add")
    assert summary["set_aside"] == aside


def test_merged_mask_is_union_of_instances(tmp_path):
    img, masks = nucleus_image((32, 40))
    _, index, _ = _prepare(tmp_path, {"a": (png(img), [png(m) for m in masks])})
    merged = cv2.imread(str(tmp_path / "merged" / "a.png"), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(merged, (np.maximum(*masks) > 0).astype(np.uint8))
    assert index["items"][0]["n_instances"] == 2
    assert (index["items"][0]["height"], index["items"][0]["width"]) == (32, 40)
    # The objects stay apart in a 16-bit id map: mask file i is object i + 1.
    ids = cv2.imread(str(tmp_path / "merged" / "a.instances.png"), cv2.IMREAD_UNCHANGED)
    assert ids.dtype == np.uint16 and index["items"][0]["instances"] is True
    assert np.array_equal(ids, (masks[0] > 0) * 1 + (masks[1] > 0) * 2)


def test_instance_label_images_keep_their_objects(tmp_path):
    """masks.instances: a paired mask whose values are object ids (here 16-bit, ids 7 and 300)."""
    from snakeseg.data.items import truth_instances
    from snakeseg.data.masks import MaskSpec

    img, masks = nucleus_image((32, 40))
    ids = ((masks[0] > 0) * 7 + (masks[1] > 0) * 300).astype(np.uint16)
    (tmp_path / "in" / "images").mkdir(parents=True)
    (tmp_path / "in" / "masks").mkdir()
    cv2.imwrite(str(tmp_path / "in" / "images" / "a.png"), img)
    cv2.imwrite(str(tmp_path / "in" / "masks" / "a.png"), ids)
    manifest = shards.build_manifests(listing.list_input(str(tmp_path / "in"), "paired"), 1)["0000"]
    staging.extract_shard(str(tmp_path / "in"), manifest, tmp_path / "raw")
    index = merge_shard(tmp_path / "raw", tmp_path / "merged", MaskSpec(instances=True))
    item = index["items"][0]
    assert item["n_instances"] == 2 and item["instances"] is True
    labels = cv2.imread(str(tmp_path / "merged" / "a.png"), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(labels, (ids > 0).astype(np.uint8))  # foreground, not "the most frequent value"
    assert np.array_equal(truth_instances(tmp_path / "merged", item), ids)
    # Without the setting the same file is a binary mask (values thresholded) with no objects kept.
    plain = merge_shard(tmp_path / "raw", tmp_path / "merged2")["items"][0]
    assert plain["instances"] is False and truth_instances(tmp_path / "merged2", plain) is None


def test_tfrecord_round_trip_through_tensorflow(tmp_path):
    from snakeseg.tfenv import tf
    from snakeseg.training.pipeline import parse_record

    img, masks = nucleus_image((32, 40))
    _, _, summary = _prepare(tmp_path, {"a": (png(img), [png(m) for m in masks])})
    want_img, want_mask = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB), (np.maximum(*masks) > 0).astype(np.uint8)
    assert summary["sizes"] == [[32, 40]] and summary["pixels"] == 32 * 40
    records = list(tf.data.TFRecordDataset([str(tmp_path / "s.tfrec")]))
    assert len(records) == summary["count"] == 1
    image, mask = parse_record(records[0])
    assert np.allclose(image.numpy() * 255, want_img, atol=1e-3)
    assert np.array_equal(mask.numpy()[..., 0], (want_mask > 0).astype(np.float32))
    ex = first_example(tmp_path / "s.tfrec")
    assert ex["id"] == [b"a"] and ex["height"] == [32] and ex["width"] == [40] and ex["n_instances"] == [2]


@pytest.mark.parametrize("kind", ["grey", "rgb", "rgba", "grey16", "jpeg", "other_size"])
def test_stored_pairs_decode_to_the_pixels_opencv_reads(tmp_path, kind):
    """Images are stored at their own size as they are (8-bit grey/RGB/RGBA PNG) or re-encoded
    (16-bit, JPEG); either way TensorFlow must decode the pixels decode_image gives."""
    from snakeseg.data.imageio import decode_image
    from snakeseg.data.png import is_plain_png
    from snakeseg.tfenv import tf

    rng = np.random.default_rng(7)
    h = w = 24 if kind != "other_size" else 30
    grey = rng.integers(0, 256, (h, w), dtype=np.uint8)
    colour = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    alpha = np.dstack([colour, rng.integers(0, 256, (h, w), dtype=np.uint8)])
    image = {"grey": png(grey), "rgb": png(colour), "rgba": png(alpha), "other_size": png(colour),
             "grey16": png(grey.astype(np.uint16) * 257 + 3),
             "jpeg": cv2.imencode(".jpg", colour)[1].tobytes()}[kind]
    mask = np.zeros((h, w), np.uint8)
    mask[4:12, 5:15] = 255
    ext = ".jpg" if kind == "jpeg" else ".png"
    archive = write_dsb_zip(tmp_path / "in.zip", {}, extra={f"a/images/a{ext}": image, "a/masks/m0.png": png(mask)})
    manifest = shards.build_manifests(listing.list_input(str(archive), "dsb2018"), 1)["0000"]
    staging.extract_shard(str(archive), manifest, tmp_path / "raw")
    merge_shard(tmp_path / "raw", tmp_path / "merged")
    make_shard(tmp_path / "merged", tmp_path / "raw", tmp_path / "s.tfrec", tmp_path / "s.json")
    ex = first_example(tmp_path / "s.tfrec")
    stored_image, stored_mask = ex["image"][0], ex["mask"][0]
    assert (stored_image == image) == (kind in ("grey", "rgb", "rgba", "other_size")) == is_plain_png(image, w, h)
    want = decode_image(image, "a")
    want_mask = (mask > 0).astype(np.uint8)
    got = tf.io.decode_png(stored_image, channels=3).numpy()
    assert got.shape == (h, w, 3) and np.array_equal(got, want)
    assert np.array_equal(tf.io.decode_png(stored_mask, channels=1).numpy()[..., 0], want_mask)


def test_extract_refuses_a_zip_changed_since_planning(tmp_path):
    archive = write_dsb_zip(tmp_path / "in.zip", {"a": good_item(0)})
    manifest = shards.build_manifests(listing.list_input(str(archive), "dsb2018"), 1)["0000"]
    write_dsb_zip(archive, {"a": good_item(1)})
    with pytest.raises(InputError, match="changed after the workflow planned"):
        staging.extract_shard(str(archive), manifest, tmp_path / "raw")
    assert not (tmp_path / "raw").exists()


def test_extract_refuses_unsafe_names_even_from_a_forged_manifest(tmp_path):
    archive = write_dsb_zip(tmp_path / "in.zip", {"a": good_item(0)}, extra={"../x.png": b"x"})
    manifest = {"shard": "0000", "set_aside": {}, "items": {"a": {
        "image": {"name": "../x.png", "size": 1, "stamp": 0}, "masks": []}}}
    with pytest.raises(InputError, match="unsafe path"):
        staging.extract_shard(str(archive), manifest, tmp_path / "raw")
    assert not (tmp_path / "x.png").exists()


def test_index_json_is_written_atomically_next_to_masks(tmp_path):
    _prepare(tmp_path, {"a": good_item(0)})
    assert json.loads((tmp_path / "merged" / "index.json").read_text())["items"][0]["id"] == "a"
    assert not list(tmp_path.glob(".*tmp-*"))


def test_a_truncated_pack_is_reported_not_decoded(tmp_path):
    archive = write_dsb_zip(tmp_path / "in.zip", {"a": good_item(0), "b": good_item(1)})
    manifest = shards.build_manifests(listing.list_input(str(archive), "dsb2018"), 1)["0000"]
    staging.extract_shard(str(archive), manifest, tmp_path / "raw")
    pack = tmp_path / "raw" / staging.PACK
    staged = json.loads((tmp_path / "raw" / "manifest.json").read_text())["staged"]
    pack.write_bytes(pack.read_bytes()[:staged["b/images/b.png"][0] + 10])  # b's files cut off
    index = merge_shard(tmp_path / "raw", tmp_path / "merged")
    assert [item["id"] for item in index["items"]] == ["a"]
    assert "members.bin: is shorter than its index says (b/images/b.png)" in index["set_aside"]["b"]["reason"]


def test_staged_image_sizes_come_from_their_headers(tmp_path):
    """Pack.open gives a staged file as a seekable file of its own; image_size reads its header only,
    whatever its format, a 20,000-px slide's as any (no decompression-bomb refusal), junk as None."""
    import struct
    import zlib

    from snakeseg.data.headers import image_size

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    def ihdr_only_png(width, height):  # a header and no pixels: nothing here could decode it
        header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
        return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"")

    files = {f"{ext}.{ext}": cv2.imencode(f".{ext}", np.zeros((37, 53, 3), np.uint8))[1].tobytes()
             for ext in ("png", "jpg", "tif", "bmp")}
    files.update({"slide.png": ihdr_only_png(20_000, 18_000), "junk.png": b"not an image at all"})
    folder = tmp_path / "in"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    manifest = shards.build_manifests(listing.list_input(str(folder), "images"), 1)["0000"]
    staging.extract_shard(str(folder), manifest, tmp_path / "raw")
    with staging.Pack(tmp_path / "raw") as pack:
        names = {entry["image"]["name"]: entry["image"]["name"] for entry in pack.manifest["items"].values()}
        assert set(names) == set(files)
        sizes = {}
        for name in names:
            with pack.open(name) as stream:
                assert stream.read() == files[name]
                stream.seek(-3, 2)
                assert stream.read() == files[name][-3:]
                stream.seek(0)
                sizes[name] = image_size(stream)
    assert sizes == {"png.png": (37, 53), "jpg.jpg": (37, 53), "tif.tif": (37, 53), "bmp.bmp": (37, 53),
                     "slide.png": (18_000, 20_000), "junk.png": None}


@pytest.mark.parametrize("limit, expected", [(None, "(33000, 33000)"), ("1000", "refused by OpenCV")])
def test_whole_slides_decode_and_opencv_refusals_name_the_file(tmp_path, limit, expected):
    """An image over OpenCV's default limit of 2^30 pixels (a 33,000-px square: a HuBMAP slide is
    larger) decodes once snakeseg is imported; a user's own lower limit is kept, and its refusal is an
    InputError naming the file. In a fresh interpreter: OpenCV reads the limit when it is imported."""
    import subprocess
    import sys

    big = tmp_path / "slide.png"
    big.write_bytes(cv2.imencode(".png", np.zeros((33000, 33000), np.uint8))[1].tobytes())
    code = ("import snakeseg.data.imageio as io, snakeseg.errors as e, sys\n"
            "try: print(io.read_mask(sys.argv[1]).shape)\n"
            "except e.InputError as err: print(err)\n")
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_IO_MAX_IMAGE_PIXELS"}
    if limit:
        env["OPENCV_IO_MAX_IMAGE_PIXELS"] = limit
    out = subprocess.run([sys.executable, "-c", code, str(big)], capture_output=True, text=True, env=env,
                         cwd=REPO, check=True).stdout
    assert expected in out and (limit is None or "slide.png" in out), out


def _merge_label_image(tmp_path, ids: np.ndarray) -> tuple[dict, np.ndarray]:
    """Merge one paired image whose mask is the label image ``ids`` (a 32-bit TIFF); (index item, truth ids)."""
    from snakeseg.data.items import truth_instances
    from snakeseg.data.masks import MaskSpec

    image, mask = png(np.full(ids.shape, 90, np.uint8)), cv2.imencode(".tif", ids.astype(np.int32))[1].tobytes()
    item = _merge_paired(tmp_path, {"a.png": image}, {"a.tif": mask}, MaskSpec(instances=True))["items"][0]
    return item, truth_instances(tmp_path / "merged", item)


def _dots(shape, step: int, first_id: int) -> np.ndarray:
    """One 1-px object every ``step`` pixels, ids counting up from ``first_id``."""
    ids = np.zeros(shape, np.int64)
    dots = ids[::step, ::step]
    dots[...] = first_id + np.arange(dots.size).reshape(dots.shape)
    return ids


def test_label_image_ids_past_16_bits_keep_every_object(tmp_path):
    """A 32-bit label image (QuPath, Cellpose) with ids above 65,535: each object stays one object
    (the ids used to wrap around in a 16-bit PNG: 65,536 became background, 65,537 object 1)."""
    ids = _dots((60, 80), 3, 65_530)
    item, truth = _merge_label_image(tmp_path, ids)
    n = np.count_nonzero(ids)
    assert item["n_instances"] == n and truth.max() == n
    assert ((truth > 0) == (ids > 0)).all() and len(np.unique(truth[ids > 0])) == n
    assert (tmp_path / "merged" / "a.instances.png").exists()  # renumbered 1..n, so a 16-bit PNG holds them


def test_label_image_with_more_objects_than_a_png_holds(tmp_path):
    ids = _dots((600, 600), 2, 1)  # 90,000 objects
    item, truth = _merge_label_image(tmp_path, ids)
    assert item["n_instances"] == 90_000 and (tmp_path / "merged" / "a.instances.tif").exists()
    assert (truth == ids).all()


def test_16_bit_images_keep_the_contrast_of_the_bits_they_use():
    """A 12-bit camera's image in a 16-bit file decodes to its 8-bit self, not to values 0..16 (x/257)."""
    from snakeseg.data.imageio import decode_image_info

    rng = np.random.default_rng(3)
    grey = rng.integers(0, 256, (20, 30), dtype=np.uint8)
    twelve = grey.astype(np.uint16) * 16 + rng.integers(0, 16, grey.shape, dtype=np.uint16)
    image, info = decode_image_info(png(twelve), "a.png")
    assert info["dtype"] == "uint16 (12 bits used)"
    assert np.abs(image[..., 0].astype(int) - grey).max() <= 1
    full, info = decode_image_info(png(np.array([[0, 65535, 257 * 100]], np.uint16)), "b.png")
    assert info["dtype"] == "uint16 (16 bits used)" and full[0, :, 0].tolist() == [0, 255, 100]
    eight, _ = decode_image_info(png(grey.astype(np.uint16)), "c.png")  # 8-bit values in a 16-bit file
    assert np.array_equal(eight[..., 0], grey)
    # auto reads a dim 12-bit image (values under 1024) as 10-bit; data.bit_depth: 12 reads it as 12-bit
    dim = (twelve // 4).astype(np.uint16)
    assert decode_image_info(png(dim), "d.png")[1]["dtype"] == "uint16 (10 bits used)"
    assert np.abs(decode_image_info(png(dim), "d.png")[0][..., 0].astype(int) - grey).max() <= 1
    assert np.abs(decode_image_info(png(dim), "d.png", 12)[0][..., 0].astype(int) - grey // 4).max() <= 1
    saturated, _ = decode_image_info(png(np.array([[4095, 8000]], np.uint16)), "e.png", 12)
    assert saturated[0, :, 0].tolist() == [255, 255]
    opaque = np.dstack([np.dstack([twelve] * 3), np.full(twelve.shape, 65535, np.uint16)])  # 16-bit RGBA
    rgba, info = decode_image_info(png(opaque), "f.png")
    assert info["dtype"] == "uint16 (12 bits used)" and np.abs(rgba[..., 0].astype(int) - grey).max() <= 1


def test_float_and_signed_images_are_stretched_from_their_own_range():
    """A deconvolution's 32-bit float TIFF (values of any scale, a few negative, NaN where undefined)
    and a signed 16-bit one decode to 0..255 from their smallest to largest value, as ImageJ converts."""
    import io

    import tifffile
    from snakeseg.data.imageio import decode_image_info

    def tif(data) -> bytes:
        out = io.BytesIO()
        tifffile.imwrite(out, data)
        return out.getvalue()

    rng = np.random.default_rng(4)
    grey = rng.integers(0, 256, (20, 30)).astype(np.uint8)
    grey[0, :2] = 0, 255
    deconvolved = grey.astype(np.float32) * 0.013 - 0.4  # -0.4 .. 2.915
    deconvolved[5, 5] = np.nan
    image, info = decode_image_info(tif(deconvolved), "d.tif")
    assert info["dtype"] == "float32 (values -0.4 to 2.915)"
    assert image[5, 5, 0] == 0 and (image[..., 0] == image[..., 2]).all()
    keep = np.ones(grey.shape, bool)
    keep[5, 5] = False
    assert np.abs(image[..., 0].astype(int) - grey)[keep].max() <= 1
    signed, info = decode_image_info(tif(grey.astype(np.int16) * 10 - 1000), "s.tif")
    assert info["dtype"] == "int16 (values -1000 to 1550)" and np.array_equal(signed[..., 1], grey)
    flat, info = decode_image_info(tif(np.full((4, 4), 7.5, np.float32)), "f.tif")
    assert info["dtype"] == "float32 (values 7.5 to 7.5)" and not flat.any()


def test_shards_store_16_bit_images_at_the_configured_bit_depth(tmp_path):
    from snakeseg.data.imageio import decode_image
    from snakeseg.tfenv import tf

    rng = np.random.default_rng(5)
    dim = rng.integers(0, 1024, (24, 24), dtype=np.uint16)  # a dim image of a 12-bit camera
    mask = np.zeros((24, 24), np.uint8)
    mask[4:12, 5:15] = 255
    archive = write_dsb_zip(tmp_path / "in.zip", {}, extra={"a/images/a.png": png(dim), "a/masks/m0.png": png(mask)})
    manifest = shards.build_manifests(listing.list_input(str(archive), "dsb2018"), 1)["0000"]
    staging.extract_shard(str(archive), manifest, tmp_path / "raw")
    merge_shard(tmp_path / "raw", tmp_path / "merged")
    stored = {}
    for depth in ("auto", "12"):  # as make_shards.py passes it on
        make_shard(tmp_path / "merged", tmp_path / "raw", tmp_path / f"{depth}.tfrec", tmp_path / f"{depth}.json",
                   bit_depth=depth)
        stored[depth] = tf.io.decode_png(first_example(tmp_path / f"{depth}.tfrec")["image"][0], channels=3).numpy()
    assert np.array_equal(stored["12"], decode_image(png(dim), "a", 12))
    assert np.array_equal(stored["auto"], decode_image(png(dim), "a"))
    assert stored["auto"].max() > 3 * stored["12"].max()  # auto reads it as 10-bit, 4x brighter


def test_tiffs_of_several_images_are_set_aside_not_read_in_part(tmp_path):
    """OpenCV reads a TIFF stack's first page, a two-channel page's first channel (as 8 bits, of a
    16-bit one), RGB plus a fourth channel as RGB, and no page of five channels; such files are set
    aside naming the file and why, while a pyramid's reduced pages and 16-bit RGB + alpha are read."""
    import io

    import tifffile

    def tif(data, **kw) -> bytes:
        out = io.BytesIO()
        tifffile.imwrite(out, data, **kw)
        return out.getvalue()

    pyramid = io.BytesIO()
    with tifffile.TiffWriter(pyramid) as w:
        w.write(np.full((24, 24), 90, np.uint8))
        w.write(np.full((12, 12), 90, np.uint8), subfiletype=1)  # a reduced-resolution page
    mask = np.zeros((24, 24), np.uint8)
    mask[4:12, 5:15] = 255
    images = {"stack": tif(np.full((2, 24, 24), 90, np.uint8)),
              "two": tif(np.full((24, 24, 2), 90, np.uint8), photometric="minisblack", planarconfig="contig"),
              "pyramid": pyramid.getvalue(), "good": tif(np.full((24, 24), 90, np.uint8)),
              "maskstack": tif(np.full((24, 24), 90, np.uint8)),
              "two16": tif(np.full((24, 24, 2), 900, np.uint16), photometric="minisblack", planarconfig="contig"),
              "rgbx16": tif(np.full((24, 24, 4), 900, np.uint16), photometric="rgb", extrasamples=["unspecified"]),
              "rgba16": tif(np.full((24, 24, 4), 900, np.uint16), photometric="rgb", extrasamples=["unassalpha"]),
              "five": tif(np.full((24, 24, 5), 90, np.uint8), photometric="minisblack", planarconfig="contig")}
    masks = {k: tif(mask) for k in images} | {"maskstack": tif(np.stack([mask, mask]))}
    index = _merge_paired(tmp_path, {f"{k}.tif": v for k, v in images.items()},
                          {f"{k}.tif": v for k, v in masks.items()})
    aside = {k: v["reason"] for k, v in index["set_aside"].items()}
    assert sorted(i["id"] for i in index["items"]) == ["good", "pyramid", "rgba16"]
    # Each reason names the file, the problem and the fix (the QA table lists them).
    assert aside["stack"] == "images/stack.tif: is a TIFF of 2 images (a stack, or channels stored as pages), " \
                             "of which only the first would be read. Fix: if its pages are channels, set " \
                             "data.channels to those to segment (0 for the first; in the config of the run that trains the " \
                             "models, which segment follows); else save each image as a file of its own"
    for name, channels in (("two", 2), ("two16", 2), ("rgbx16", 4), ("five", 5)):
        assert aside[name] == f"images/{name}.tif: has {channels} channels, where snakeseg reads grey (1) or RGB (3), " \
                              "with or without alpha. Fix: set data.channels to the one to three channels to segment " \
                              "(0 for the first; in the config of the run that trains the models, which segment follows), " \
                              "or save them as a grey or RGB image"
    assert aside["maskstack"].startswith("masks/maskstack.tif: is a TIFF of 2 images")


def test_a_phone_photo_is_read_upright_as_its_mask_was_drawn(tmp_path):
    """A JPEG stored sideways with EXIF orientation 6 (rotate 90 degrees clockwise to view), as phones
    save portrait photos: read upright, as viewers, annotation tools and cv2.imread show it, so its
    upright mask matches it (it was set aside as a mask of another size, or, square, misaligned)."""
    import io

    from PIL import Image

    from snakeseg.data.imageio import decode_image

    stored = np.zeros((30, 60, 3), np.uint8)
    stored[:, :10] = 255  # the stored image's left edge is the upright photo's top
    photo = Image.fromarray(stored)
    exif = photo.getexif()
    exif[0x0112] = 6
    out = io.BytesIO()
    photo.save(out, "JPEG", exif=exif, quality=95)
    upright = decode_image(out.getvalue(), "photo.jpg")
    assert upright.shape == (60, 30, 3) and upright[:10].mean() > 200 and upright[15:].mean() < 30
    mask = np.zeros((60, 30), np.uint8)
    mask[:10] = 255  # drawn on the upright photo
    index = _merge_paired(tmp_path, {"photo.jpg": out.getvalue()}, {"photo.png": png(mask)})
    assert not index["set_aside"] and (index["items"][0]["height"], index["items"][0]["width"]) == (60, 30)


def test_palette_png_masks_are_read_by_their_indices(tmp_path):
    """labelme's label.png and Pascal VOC masks: palette PNGs whose indices are the classes (255 the
    unlabelled border). OpenCV gives their colours, which made every class pixel a stray value."""
    import io

    from PIL import Image

    from snakeseg.data.masks import IGNORE, MaskSpec

    classes = np.zeros((20, 30), np.uint8)
    classes[5:10, 5:10], classes[12:18, 12:20], classes[0] = 1, 2, 255
    mask = Image.fromarray(classes, "P")
    mask.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [0, 0, 0] * 252 + [224, 224, 192])  # VOC's colours
    out = io.BytesIO()
    mask.save(out, "PNG")
    index = _merge_paired(tmp_path, {"a.png": png(np.full((20, 30), 90, np.uint8))}, {"a.png": out.getvalue()},
                          MaskSpec(format="index", n_classes=2, ignore_value=255))
    assert index["items"][0]["stray_pixels"] == 0
    labels = cv2.imread(str(tmp_path / "merged" / "a.png"), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(labels, np.where(classes == 255, IGNORE, classes))
    assert index["items"][0]["class_pixels"] == "1:25 2:48"  # what the QA table shows per class
    from snakeseg.evaluation.qa import tables

    assert tables([{**index, "shard": "0000"}, {**index, "shard": "0001"}], [])[2]["class_pixels"] == {"1": 50, "2": 96}


def test_colour_coded_instance_masks_keep_one_object_per_colour():
    """masks.instances with a colour label image: each colour is an object. The channels' maximum
    made the red (200, 10, 10) and yellow (200, 200, 10) objects one object."""
    from snakeseg.data.masks import MaskSpec, instance_image

    colours = np.zeros((12, 12, 3), np.uint8)
    colours[1:3, 1:3], colours[5:7, 5:7], colours[9:11, 2:4] = (200, 10, 10), (10, 200, 10), (200, 200, 10)
    colours[0] = 255  # unlabelled
    labels, ids, record = instance_image(colours, "c.png", MaskSpec(instances=True, ignore_value=255))
    assert record["mask_encoding"] == "8-bit colour instance ids (3 objects)"
    assert sorted(np.unique(ids[ids > 0]).tolist()) == [1, 2, 3] and (ids[0] == 0).all()
    assert len({int(ids[1, 1]), int(ids[5, 5]), int(ids[9, 2])}) == 3
    assert (labels[0] == 255).all() and labels[1:].sum() == 12


def test_a_changed_images_pixels_change_its_shards_training_identity_and_a_set_aside_file_does_not(tmp_path):
    from snakeseg.workflow.folds import fold_fingerprint

    def identity(summary):
        return fold_fingerprint(0, {"arch": "Unet"}, {"epochs": 3}, {}, ["fg"], {"0001"}, [summary])

    for folder in "abc":
        (tmp_path / folder).mkdir()
    items = {f"img{i}": good_item(i, size=(32, 40)) for i in range(3)}
    first = _prepare(tmp_path / "a", items)[2]
    image = cv2.imdecode(np.frombuffer(items["img1"][0], np.uint8), cv2.IMREAD_UNCHANGED)
    brighter = {**items, "img1": (png(np.clip(image.astype(int) + 9, 0, 255).astype(np.uint8)), items["img1"][1])}
    changed = _prepare(tmp_path / "b", brighter)[2]
    assert changed["sizes"] == first["sizes"] and changed["digest"] != first["digest"]
    assert identity(changed) != identity(first)  # same ids and sizes, new pixels: training starts over
    broken = _prepare(tmp_path / "c", {**items, "broken": (items["img0"][0][:40], items["img0"][1])})[2]
    assert "broken" in broken["set_aside"] and identity(broken) == identity(first)  # nothing new to train on
