"""Input layouts, their detection, and the bad-input zoo at the inventory level."""

import zipfile

import cv2
import numpy as np
import pytest

from helpers import SHARED_DATA, good_item, nucleus_image, write_dsb_zip
from snakeseg.data import listing, shards, staging
from snakeseg.data.merge import merge_shard
from snakeseg.errors import InputError, NoMasksFolder
from snakeseg.data.masks import MaskSpec


def write_paired(root, n=6, images="images", masks="masks", suffix="", mask_ext=".png", encode=None):
    """A paired-folders dataset: <images>/<stem>.png and <masks>/<stem><suffix><mask_ext>."""
    (root / images).mkdir(parents=True, exist_ok=True)
    (root / masks).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img, inst = nucleus_image((32, 40), i)
        mask = np.maximum(*inst)
        cv2.imwrite(str(root / images / f"p{i:02d}.png"), img)
        out = root / masks / f"p{i:02d}{suffix}{mask_ext}"
        if mask_ext == ".gif":  # OpenCV cannot write GIF; Carvana's masks are GIF
            from PIL import Image
            Image.fromarray(mask).convert("P").save(out, format="GIF")
        else:
            cv2.imwrite(str(out), encode(mask) if encode else mask)
    return root


def zip_folder(folder, archive):
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())
    return archive


def test_paired_folder_is_detected_and_paired_by_stem(tmp_path):
    root = write_paired(tmp_path / "data", masks="labels")
    (root / ".DS_Store").write_bytes(b"x")
    (root / "notes.txt").write_text("hi")
    inv = listing.list_input(str(root))
    assert inv.layout == "paired" and len(inv.usable()) == 6
    item = inv.items["p03"]
    assert item.kind == "semantic" and item.image.name == "images/p03.png" and item.masks[0].name == "labels/p03.png"
    reasons = dict(inv.unassigned)
    assert "metadata" in reasons[".DS_Store"] and "not an image in images/" in reasons["notes.txt"]


def test_zip_of_paired_folders_under_a_top_folder(tmp_path):
    write_paired(tmp_path / "src" / "train")
    inv = listing.list_input(str(zip_folder(tmp_path / "src", tmp_path / "p.zip")))
    assert inv.layout == "paired" and sorted(inv.usable()) == [f"p{i:02d}" for i in range(6)]


def test_carvana_style_mask_suffix_and_gif_are_detected(tmp_path):
    root = tmp_path / "carvana"
    write_paired(root, n=3, images="train", masks="train_masks", suffix="_mask", mask_ext=".gif")
    assert (root / "train_masks" / "p00_mask.gif").read_bytes()[:3] == b"GIF"
    inv = listing.list_input(str(root))
    assert inv.layout == "paired" and len(inv.usable()) == 3
    assert inv.items["p00"].masks[0].name == "train_masks/p00_mask.gif"
    staging.extract_shard(str(root), shards.build_manifests(inv, 1)["0000"], tmp_path / "raw")
    index = merge_shard(tmp_path / "raw", tmp_path / "merged", MaskSpec())
    assert [i["n_instances"] for i in index["items"]] == [2, 2, 2] and not index["set_aside"]
    (root / "train").rename(root / "train_hq")  # Kaggle's high-resolution images pair the same masks
    assert sorted(listing.list_input(str(root)).usable()) == ["p00", "p01", "p02"]


def test_paired_problems_are_set_aside(tmp_path):
    root = write_paired(tmp_path / "d", n=3)
    (root / "masks" / "p01.png").unlink()                  # image without mask
    cv2.imwrite(str(root / "masks" / "orphan.png"), np.zeros((4, 4), np.uint8))
    cv2.imwrite(str(root / "images" / "p02.jpg"), np.zeros((4, 4), np.uint8))  # duplicate id
    inv = listing.list_input(str(root))
    assert "image without a mask in masks/" in inv.items["p01"].problem
    assert inv.items["orphan"].problem == "mask without an image in images/; name it after its image (or remove it)"
    assert "duplicate id" in inv.items["p02"].problem and "rename all but one" in inv.items["p02"].problem
    assert sorted(inv.items["p02"].files()) == ["images/p02.jpg", "images/p02.png", "masks/p02.png"]
    assert sorted(inv.usable()) == ["p00"]


def test_missing_masks_folder_names_the_fix(tmp_path):
    (tmp_path / "d" / "images").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "d" / "images" / "a.png"), np.zeros((4, 4), np.uint8))
    (tmp_path / "d" / "masks").mkdir()  # there, but empty: the message says so, even with masks_dir set
    for masks_dir in (None, "masks"):
        with pytest.raises(NoMasksFolder, match="masks folder.*not found.*paired.masks_dir.*holds image files: is it empty"):
            listing.list_input(str(tmp_path / "d"), paired={"masks_dir": masks_dir})
    (tmp_path / "d" / "masks" / "b.png").write_bytes((tmp_path / "d" / "images" / "a.png").read_bytes())
    (tmp_path / "d" / "labels").mkdir()
    (tmp_path / "d" / "labels" / "b.png").write_bytes((tmp_path / "d" / "images" / "a.png").read_bytes())
    with pytest.raises(InputError, match="masks folder: is ambiguous") as ambiguous:  # not "no masks"
        listing.list_input(str(tmp_path / "d"))
    assert not isinstance(ambiguous.value, NoMasksFolder)


def test_truncated_zip_is_refused_with_its_name(tmp_path):
    archive = write_dsb_zip(tmp_path / "t.zip", {f"i{i}": good_item(i) for i in range(4)})
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="t.zip: is not a readable zip"):
        listing.list_input(str(archive))


def test_zip_bomb_limits(tmp_path):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("x/images/x.png", b"\0" * (8 << 20))
    with pytest.raises(InputError, match="member 'x/images/x.png'.*expands.*limits.max_ratio"):
        listing.list_input(str(archive))
    with pytest.raises(InputError, match="limits.max_total_mb"):
        listing.list_input(str(archive), limits={"max_total_mb": 1, "max_ratio": 1e9})


@pytest.mark.parametrize("encode,expected", [
    (lambda m: (m > 0).astype(np.uint8), "8-bit 0/1"),
    (lambda m: np.repeat(m[..., None], 3, axis=2), "8-bit R=G=B 0/255"),
    (lambda m: (m > 0).astype(np.uint16) * 65535, "16-bit 0/65535"),
])
def test_paired_masks_in_any_encoding_give_the_same_label_map(tmp_path, encode, expected):
    root = write_paired(tmp_path / "d", n=1, encode=encode)
    inv = listing.list_input(str(root))
    manifest = shards.build_manifests(inv, 1)["0000"]
    staging.extract_shard(str(root), manifest, tmp_path / "raw")
    index = merge_shard(tmp_path / "raw", tmp_path / "merged", MaskSpec())
    item = index["items"][0]
    assert item["mask_encoding"] == expected and item["n_instances"] == 2
    labels = cv2.imread(str(tmp_path / "merged" / "p00.png"), cv2.IMREAD_UNCHANGED)
    _, inst = nucleus_image((32, 40), 0)
    assert np.array_equal(labels, (np.maximum(*inst) > 0).astype(np.uint8))


def test_folder_input_change_is_caught_between_planning_and_staging(tmp_path):
    root = write_paired(tmp_path / "d", n=2)
    manifest = shards.build_manifests(listing.list_input(str(root)), 1)["0000"]
    cv2.imwrite(str(root / "masks" / "p00.png"), np.zeros((32, 40), np.uint8) + 255)
    with pytest.raises(InputError, match="changed after the workflow planned"):
        staging.extract_shard(str(root), manifest, tmp_path / "raw")


@pytest.mark.skipif(not (SHARED_DATA / "fuseg-dev" / "images").exists(), reason="../shared/data/fuseg-dev absent")
def test_real_fuseg_sample_is_detected_as_paired_with_rgb_masks(tmp_path):
    inv = listing.list_input(str(SHARED_DATA / "fuseg-dev"))
    assert inv.layout == "paired" and len(inv.usable()) == 40
    assert inv.items[sorted(inv.items)[0]].masks[0].name.startswith("labels/")


@pytest.mark.parametrize("suffix", ["_cp_masks", "_segmentation"])
def test_cellpose_and_isic_mask_names_pair_by_themselves(tmp_path, suffix):
    root = write_paired(tmp_path / "d", n=3, suffix=suffix)
    assert sorted(listing.list_input(str(root)).usable()) == ["p00", "p01", "p02"]


def test_the_top_images_folder_can_be_chosen_beside_a_nested_one(tmp_path):
    root = write_paired(tmp_path / "d", n=3)
    write_paired(root / "test", n=2)
    with pytest.raises(InputError, match="is ambiguous"):
        listing.list_input(str(root))
    inv = listing.list_input(str(root), paired={"images_dir": "images", "masks_dir": "masks"})
    assert inv.items["p00"].image.name == "images/p00.png" and len(inv.usable()) == 3


def test_no_usable_image_names_a_reason_and_the_suffix_fix(tmp_path):
    from snakeseg.data import plan

    root = write_paired(tmp_path / "d", n=4, suffix="_annot")  # a suffix nothing detects
    result = plan.plan(str(root), "auto", {}, {}, 4, tmp_path / "plan")
    with pytest.raises(InputError, match=r"has no usable image; 8 set aside, e.g. p\d\d(_annot)?: (mask|image) without an? .*"
                                         r"Fix: .*set paired.mask_suffix"):
        plan.check_folds(result, 2, tmp_path / "plan")


def test_a_float_colour_mask_with_channels_format_is_set_aside_with_the_fix():
    from snakeseg.data.masks import normalise

    spec = MaskSpec(format="channels", n_classes=2)
    with pytest.raises(InputError, match="m.tif: is a float32 colour mask.*Fix: save the mask as an 8-bit RGB"):
        normalise(np.ones((4, 4, 3), np.float32), "m.tif", spec)


def test_names_in_either_unicode_form_pair(tmp_path):
    """macOS writes 'café' as 'cafe' plus a combining accent (NFD), most other systems as one letter (NFC)."""
    import unicodedata

    root = write_paired(tmp_path / "d", n=2)
    (root / "images" / "p00.png").rename(root / "images" / unicodedata.normalize("NFC", "café.png"))
    (root / "masks" / "p00.png").rename(root / "masks" / unicodedata.normalize("NFD", "café.png"))
    inv = listing.list_input(str(root))
    assert sorted(inv.usable()) == [unicodedata.normalize("NFC", "café"), "p01"]


def test_class_subfolders_are_named_as_not_a_layout(tmp_path):
    write_paired(tmp_path / "d" / "images", n=2, images="benign", masks="malignant")
    with pytest.raises(InputError, match="masks folder: not found .*Fix: set paired.masks_dir .*one per class"):
        listing.list_input(str(tmp_path / "d"))
