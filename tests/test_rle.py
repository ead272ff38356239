"""python -m snakeseg rle-masks: run-length-encoded CSV masks written as mask images (a paired folder)."""

import cv2
import numpy as np
import pytest

from helpers import png
from snakeseg.__main__ import main
from snakeseg.data import listing
from snakeseg.data.rle import decode_rle


def encode(mask: np.ndarray, order: str) -> str:
    """Kaggle's encoding, written independently of the decoder: runs of the flattened mask."""
    flat = np.concatenate([[0], (mask.T if order == "F" else mask).ravel().astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(flat)) + 1  # 1-indexed starts and ends, alternating
    return " ".join(f"{start} {end - start}" for start, end in zip(edges[0::2], edges[1::2]))


def test_the_kaggle_example_runs_down_the_columns():
    """'1 3 10 5': pixels 1, 2, 3 and 10..14, numbered top to bottom, then left to right."""
    mask = decode_rle("1 3 10 5", (4, 5))
    want = np.zeros((4, 5), bool)
    want[0:3, 0] = True
    want[1:4, 2], want[0:2, 3] = True, True  # pixels 10-12 end column 3, 13-14 start column 4
    assert np.array_equal(mask, want)
    assert np.array_equal(decode_rle("1 3 10 5", (4, 5), "C").ravel(), np.isin(np.arange(20), [0, 1, 2, *range(9, 14)]))


@pytest.mark.parametrize("order", ["F", "C"])
def test_decoding_inverts_the_encoding(order):
    mask = np.random.default_rng(3).random((37, 51)) > 0.6
    assert np.array_equal(decode_rle(encode(mask, order), mask.shape, order), mask)
    assert not decode_rle("", mask.shape).any() and not decode_rle(float("nan"), mask.shape).any()
    with pytest.raises(ValueError, match="outside the 51x37 image"):
        decode_rle(f"{37 * 51} 2", mask.shape)


def test_rle_masks_make_a_paired_folder(tmp_path, capsys):
    rng = np.random.default_rng(1)
    images = tmp_path / "data" / "train"  # HuBMAP's folder; its masks go to train_masks/, which pairs by name
    images.mkdir(parents=True)
    shapes = {"a.png": (20, 30), "b.jpg": (24, 16), "c.png": (10, 10)}
    for name, shape in shapes.items():
        ext = "." + name.rsplit(".", 1)[1]
        (images / name).write_bytes(cv2.imencode(ext, rng.integers(0, 255, shape, dtype=np.uint8))[1].tobytes())
    a = rng.random((20, 30)) > 0.5
    b1, b2 = np.zeros((24, 16), bool), np.zeros((24, 16), bool)
    b1[2:6, 3:9], b2[10:20, 1:4] = True, True
    rows = ["id,encoding", f"a,{encode(a, 'F')}", f"b.jpg,{encode(b1, 'F')}", f"b.jpg,{encode(b2, 'F')}", "zzz,1 2"]
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "data" / "train_masks"
    assert main(["rle-masks", str(tmp_path / "train.csv"), str(images), str(out)]) == 0
    printed = capsys.readouterr().out
    assert "1 binary masks and 1 object-id masks" in printed
    assert "1 ids without an image: zzz" in printed and "1 images without a row (no mask written): c.png" in printed
    assert np.array_equal(cv2.imread(str(out / "a.png"), cv2.IMREAD_UNCHANGED), a.astype(np.uint8) * 255)
    ids = cv2.imread(str(out / "b.png"), cv2.IMREAD_UNCHANGED)
    assert ids.dtype == np.uint16 and np.array_equal(ids, b1 * 1 + b2 * 2)
    # The folder is a paired input: a and b pair with their masks, c is listed as an image without one.
    (tmp_path / "train.csv").rename(tmp_path / "data" / "train.csv")  # beside them, as Kaggle ships it
    inventory = listing.list_input(str(tmp_path / "data"))
    assert sorted(inventory.usable()) == ["a", "b"] and inventory.items["c"].problem


def test_a_run_beyond_its_image_names_the_row_and_the_fix(tmp_path, capsys):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(png(np.zeros((8, 8), np.uint8)))
    (tmp_path / "labels.csv").write_text("ImageId,EncodedPixels\na,60 10\n")
    assert main(["rle-masks", str(tmp_path / "labels.csv"), str(tmp_path / "images"), str(tmp_path / "masks")]) == 1
    err = capsys.readouterr().err
    assert "labels.csv: row of a: runs outside the 8x8 image" in err and "--order (F or C)" in err


def test_carvanas_csv_is_read_left_to_right_by_default_and_the_order_is_said(tmp_path, capsys):
    images = tmp_path / "train"
    images.mkdir()
    car = np.zeros((12, 20), bool)
    car[3:9, 2:15] = True
    (images / "c1_01.jpg").write_bytes(cv2.imencode(".jpg", np.zeros((12, 20), np.uint8))[1].tobytes())
    (tmp_path / "train_masks.csv").write_text(f"img,rle_mask\nc1_01.jpg,{encode(car, 'C')}\n")  # Carvana's columns
    out = tmp_path / "train_masks"
    assert main(["rle-masks", str(tmp_path / "train_masks.csv"), str(images), str(out)]) == 0
    assert "runs read left to right, then top to bottom (--order C): if the masks look" in capsys.readouterr().out
    assert np.array_equal(cv2.imread(str(out / "c1_01.png"), cv2.IMREAD_UNCHANGED), car.astype(np.uint8) * 255)
    (tmp_path / "hubmap.csv").write_text(f"id,encoding\nc1_01,{encode(car, 'F')}\n")  # HuBMAP's: top to bottom
    assert main(["rle-masks", str(tmp_path / "hubmap.csv"), str(images), str(out)]) == 0
    assert "(--order F)" in capsys.readouterr().out
    assert np.array_equal(cv2.imread(str(out / "c1_01.png"), cv2.IMREAD_UNCHANGED), car.astype(np.uint8) * 255)
