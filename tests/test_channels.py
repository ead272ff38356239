"""data.channels: multi-channel microscopy images read by the channels to segment (Cellpose's --chan),
through every stage that decodes an image."""
import io

import cv2
import numpy as np
import pytest
import tifffile
from test_shard_stages import first_example

from snakeseg.data import listing, shards, staging
from snakeseg.data.imageio import decode_image, decode_image_info, file_channels
from snakeseg.data.items import iter_items
from snakeseg.data.merge import merge_shard
from snakeseg.data.records import make_shard
from snakeseg.errors import InputError


def tif(data, **kw) -> bytes:
    out = io.BytesIO()
    tifffile.imwrite(out, data, **kw)
    return out.getvalue()


def five_channels(dtype=np.uint16) -> np.ndarray:
    """24 x 32 pixels, channel c holding 100 * (c + 1) (a 16-bit camera's values; 8-bit: 40 * (c + 1))."""
    step = 100 if dtype == np.uint16 else 40
    return np.stack([np.full((24, 32), step * (c + 1), dtype) for c in range(5)], axis=-1)


def test_one_channel_is_read_as_grey_two_fill_red_and_green_three_rgb():
    data = tif(five_channels(), photometric="minisblack", planarconfig="contig")
    with pytest.raises(InputError, match="has 5 channels.*set data.channels"):
        decode_image(data, "five.tif")
    grey = decode_image(data, "five.tif", 16, [3])
    assert grey.shape == (24, 32, 3) and (grey == round(400 * 255 / 65535)).all()
    image, info = decode_image_info(data, "five.tif", "auto", [0, 4])
    assert info["channels"] == 5 and info["dtype"] == "uint16 (9 bits used)"  # 500: 9 bits
    assert image[0, 0].tolist() == [round(100 * 255 / 511), round(500 * 255 / 511), 0]
    assert decode_image(data, "five.tif", "auto", [2, 1, 0])[0, 0].tolist() == [150, 100, 50]  # 300: 9 bits used


def test_a_float_image_is_stretched_by_its_chosen_channels_range_alone():
    """Two float channels of values 100..200: stretched from 100, not from the blank blue's 0."""
    planes = np.stack([np.linspace(100, 200, 24 * 32, dtype=np.float32).reshape(24, 32)] * 2, axis=-1)
    image = decode_image(tif(planes, photometric="minisblack", planarconfig="contig"), "f.tif", channels=[0, 1])
    assert image[0, 0].tolist() == [0, 0, 0] and image[-1, -1].tolist() == [255, 255, 0]


def test_channels_count_in_the_files_order_for_png_and_hyperstacks():
    """OpenCV stores a PNG as BGR; channel 0 is still the file's red. An ImageJ hyperstack's channels
    are pages: channel 1 is the second page."""
    rgb = np.zeros((10, 12, 3), np.uint8)
    rgb[..., 0], rgb[..., 2] = 200, 50
    png = cv2.imencode(".png", rgb[..., ::-1])[1].tobytes()
    assert (decode_image(png, "a.png", channels=[0]) == 200).all()
    assert (decode_image(png, "a.png", channels=[2]) == 50).all()
    pages = np.stack([np.full((10, 12), v, np.uint8) for v in (10, 20, 30)])
    hyper = tif(pages, imagej=True, metadata={"axes": "CYX"})
    assert (decode_image(hyper, "h.tif", channels=[1]) == 20).all()
    planar = tif(pages, photometric="minisblack", planarconfig="separate")
    assert (decode_image(planar, "p.tif", channels=[2]) == 30).all()


def test_compressed_tiffs_are_read():
    """Microscope software often saves LZW or deflate TIFFs (tifffile reads them with imagecodecs)."""
    for compression in ("lzw", "zlib"):
        data = tif(five_channels(), photometric="minisblack", planarconfig="contig", compression=compression)
        assert (file_channels(data, "c.tif")[..., 2] == 300).all()


def test_a_missing_channel_or_a_stack_of_planes_names_the_file():
    with pytest.raises(InputError, match=r"has 3 channel\(s\) \(0 to 2\), and data.channels asks for channel 3"):
        decode_image(cv2.imencode(".png", np.zeros((4, 4, 3), np.uint8))[1].tobytes(), "a.png", channels=[0, 3])
    zstack = tif(np.zeros((4, 2, 10, 12), np.uint8), imagej=True, metadata={"axes": "ZCYX"})
    with pytest.raises(InputError, match="z.tif: is a TIFF of axes ZCYX") as err:
        decode_image(zstack, "z.tif", channels=[0])
    assert "one z, one time point" in err.value.fix


def test_objects_measure_the_chosen_channels_and_every_channel_on_its_own(tmp_path):
    """A nucleus segmented on channel 1 of a 3-channel 16-bit image: its mean_intensity is channel 1's
    stored value, and each channel's own mean is a column (a marker's level per nucleus)."""
    from test_measure import _Pack, _ThresholdModel

    from snakeseg.inference.newimages import postprocess_pack, predict_pack
    from snakeseg.inference.outputs import NetworkOutputs, Postprocessor

    planes = np.zeros((32, 32, 3), np.uint16)
    planes[..., 0] = 50  # background stain everywhere
    planes[8:16, 8:20, 1] = 3000  # the nucleus (96 px) on channel 1
    planes[8:16, 8:14, 2] = 1000  # a marker in half of it
    pack = _Pack({"a.tif": tif(planes, photometric="rgb")})
    aside = predict_pack(pack, _ThresholdModel(), NetworkOutputs(tmp_path / "net", 1), 0.5, 8, "auto", [1])
    post = Postprocessor(tmp_path, {"overlay_truth": False, "overlay_thickness": 1}, {"enabled": False}, 1)
    table = postprocess_pack(pack, tmp_path / "net", post, ["foreground"], "auto", aside, [1])["objects"][0]
    assert len(table) == 1 and table["area"][0] == 96
    assert table["mean_intensity"][0] == 3000 and table["integrated_intensity"][0] == 3000 * 96
    assert [table[f"mean_intensity_ch{k}"][0] for k in range(3)] == [50, 3000, 500]


def test_merge_shard_and_predict_read_the_chosen_channels(tmp_path):
    """A paired folder of 5-channel TIFFs: set aside without data.channels; with [4], merged, written
    to the shard's records and read for prediction as the fifth channel."""
    (tmp_path / "in" / "images").mkdir(parents=True)
    (tmp_path / "in" / "masks").mkdir()
    mask = np.zeros((24, 32), np.uint8)
    mask[5:15, 6:20] = 255
    for name in ("a", "b"):
        (tmp_path / "in" / "images" / f"{name}.tif").write_bytes(
            tif(five_channels(np.uint8), photometric="minisblack", planarconfig="contig"))
        cv2.imwrite(str(tmp_path / "in" / "masks" / f"{name}.png"), mask)
    manifest = shards.build_manifests(listing.list_input(str(tmp_path / "in"), "paired"), 1)["0000"]
    staging.extract_shard(str(tmp_path / "in"), manifest, tmp_path / "raw")
    refused = merge_shard(tmp_path / "raw", tmp_path / "refused")
    assert not refused["items"] and "has 5 channels" in refused["set_aside"]["a"]["reason"]
    index = merge_shard(tmp_path / "raw", tmp_path / "merged", channels=[4])
    assert [i["id"] for i in index["items"]] == ["a", "b"] and index["items"][0]["channels"] == 5
    make_shard(tmp_path / "merged", tmp_path / "raw", tmp_path / "s.tfrec", tmp_path / "s.json", channels=[4])
    stored = cv2.imdecode(np.frombuffer(first_example(tmp_path / "s.tfrec")["image"][0], np.uint8), cv2.IMREAD_UNCHANGED)
    assert stored.shape == (24, 32, 3) and (stored == five_channels(np.uint8)[0, 0, 4]).all()
    items = list(iter_items([tmp_path / "merged"], [tmp_path / "raw"], "auto", [4]))
    assert len(items) == 2 and (items[0][1] == five_channels(np.uint8)[0, 0, 4]).all()
