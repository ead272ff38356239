import shutil

import pytest

from helpers import good_item, write_dsb_zip
from snakeseg.data import listing
from snakeseg.errors import InputError


@pytest.mark.parametrize("name", ["../evil.png", "id/../../evil.png", "/etc/passwd", "C:/x.png", "a\\..\\b.png"])
def test_unsafe_member_names_stop_with_the_member_named(tmp_path, name):
    archive = write_dsb_zip(tmp_path / "a.zip", {"ok": good_item()}, extra={name: b"x"})
    with pytest.raises(InputError) as err:
        listing.list_input(str(archive), "dsb2018")
    assert name in str(err.value) and "unsafe path" in str(err.value) and "Fix:" in str(err.value)


def test_layout_problems_are_set_aside_or_listed(tmp_path):
    image, masks = good_item()
    archive = write_dsb_zip(
        tmp_path / "a.zip",
        {"good": (image, masks), "nomask": (image, [])},
        extra={"orphan/masks/m.png": masks[0], ".DS_Store": b"junk", "__MACOSX/good/._x.png": b"junk",
               "README.txt": b"hello", "good/images/second.png": image},
    )
    inv = listing.list_input(str(archive), "dsb2018")
    assert inv.items["nomask"].problem.startswith("image without any mask in masks/; add a mask per object")
    assert inv.items["orphan"].problem.startswith("masks without an image in images/; put the image there")
    assert "more than one file in images/" in inv.items["good"].problem
    listed = dict(inv.unassigned)
    assert "metadata" in listed[".DS_Store"] and "metadata" in listed["__MACOSX/good/._x.png"]
    assert "not in the DSB2018 layout" in listed["README.txt"]
    assert inv.usable() == {}


def test_good_items_carry_crc_and_size(tmp_path):
    image, masks = good_item()
    archive = write_dsb_zip(tmp_path / "a.zip", {"abc": (image, masks)})
    item = listing.list_input(str(archive), "dsb2018").items["abc"]
    assert item.problem is None
    assert item.image.size == len(image) and item.image.name == "abc/images/abc.png"
    assert [m.name for m in item.masks] == ["abc/masks/m0.png", "abc/masks/m1.png"]


def test_missing_and_corrupt_zip_name_the_file(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        listing.list_input(str(tmp_path / "nope.zip"), "dsb2018")
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(InputError, match="bad.zip: is not a readable zip"):
        listing.list_input(str(bad), "dsb2018")


def test_images_to_segment_are_listed_from_an_images_folder_or_the_top(tmp_path):
    image, _ = good_item()
    flat = write_dsb_zip(tmp_path / "flat.zip", {}, extra={"a.png": image, "b.jpg": image, "notes.txt": b"x",
                                                           "sub/c.png": image})
    inv = listing.list_input(str(flat), "images")
    assert sorted(inv.usable()) == ["a", "b", "sub__c"] and inv.items["a"].masks == []
    assert inv.items["a"].kind == "image" and inv.items["sub__c"].image.name == "sub/c.png"
    assert {f for f, _ in inv.unassigned} == {"notes.txt"}
    webp = write_dsb_zip(tmp_path / "webp.zip", {}, extra={"a.png": image, "b.webp": b"RIFF"})
    assert listing.list_input(str(webp), "images").unassigned == [
        ("b.webp", "a .webp image, a format snakeseg does not read; ignored. Fix: convert it to PNG, JPEG or TIFF "
                   "(a slide to an OME-TIFF or tiles)")]
    # a screen zipped as one folder of plate and well folders: ids below the folder they all share
    plates = write_dsb_zip(tmp_path / "plates.zip", {}, extra={"screen/p1/A01/f1.tif": image,
                                                               "screen/p1/A02/f1.tif": image,
                                                               "screen/p2/A01/f1.tif": image})
    assert sorted(listing.list_input(str(plates), "images").usable()) == ["p1__A01__f1", "p1__A02__f1", "p2__A01__f1"]
    one = write_dsb_zip(tmp_path / "one.zip", {}, extra={"new_batch/x.png": image, "new_batch/y.png": image})
    assert sorted(listing.list_input(str(one), "images").usable()) == ["x", "y"]
    with pytest.raises(InputError, match="found none"):
        listing.list_input(str(write_dsb_zip(tmp_path / "none.zip", {}, extra={"notes.txt": b"x"})), "images")
    nested = write_dsb_zip(tmp_path / "nested.zip", {}, extra={"batch7/images/x.png": image,
                                                               "batch7/images/x.tif": image})
    inv = listing.list_input(str(nested), "images")
    assert inv.usable() == {} and "duplicate id" in inv.items["x"].problem
    # an images folder's subfolders are its images too
    batches = write_dsb_zip(tmp_path / "batches.zip", {}, extra={"images/a.png": image, "images/batch2/b.png": image,
                                                                 "labels/a.png": image})
    inv = listing.list_input(str(batches), "images")
    assert sorted(inv.usable()) == ["a", "batch2__b"] and {f for f, _ in inv.unassigned} == {"labels/a.png"}
    # a DSB2018 folder (Kaggle's stage1_test, or a labelled one): <id>/images/<id>.png is <id>, masks left out
    dsb = write_dsb_zip(tmp_path / "dsb.zip", {"id1": good_item(1), "id2": good_item(2)})
    inv = listing.list_input(str(dsb), "images")
    assert sorted(inv.usable()) == ["id1", "id2"] and all("/masks/" in f for f, _ in inv.unassigned)
    wells = write_dsb_zip(tmp_path / "wells.zip", {}, extra={"A01/A01.tif": image, "A02/f1.tif": image})
    assert sorted(listing.list_input(str(wells), "images").usable()) == ["A01__A01", "A02__f1"]  # no images/ folder


def test_new_images_leave_out_an_earlier_segment_runs_outputs_in_their_folder(tmp_path):
    image, _ = good_item()
    for name in ("a.png", "plate/b.png", "seg/masks/a.png", "seg/overlays/a.png", "seg/overview.png",
                 "own/masks/a.png", "own/summary.csv"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(image)
    (tmp_path / "seg" / "summary.csv").write_text("id\n")
    (tmp_path / "seg" / "objects.csv").write_text("id\n")
    inv = listing.list_input(str(tmp_path), "images")  # as predict_input and segment read it
    assert sorted(inv.usable()) == ["a", "own__masks__a", "plate__b"]  # own/ has no objects.csv: not a segment run's


def test_images_to_segment_are_read_where_they_are_in_a_folder_or_zip(tmp_path):
    from snakeseg.data import shards
    from snakeseg.inference.newimages import Unstaged

    image, _ = good_item()
    files = {"plate1/a.png": image, "plate2/a.png": image[:-10]}
    for name, data in files.items():
        (tmp_path / "folder" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "folder" / name).write_bytes(data)
    for source in (str(tmp_path / "folder"), str(write_dsb_zip(tmp_path / "in.zip", {}, extra=files))):
        manifest = shards.build_manifests(listing.list_input(source, "images"), 1)["0000"]
        with Unstaged(source, manifest) as images:
            read = {i: images.read(e["image"]["name"]) for i, e in images.manifest["items"].items()}
        assert read == {"plate1__a": files["plate1/a.png"], "plate2__a": files["plate2/a.png"]}
    # One image file: its folder holds more, but only it is listed and read.
    one = tmp_path / "folder" / "plate2" / "a.png"
    assert listing.is_image_file(str(one)) and not listing.is_image_file(str(one.parent))
    manifest = shards.build_manifests(listing.one_image(one), 1)["0000"]
    (one.parent / "b.png").write_bytes(image)
    with Unstaged(str(one.parent), manifest) as images:
        read = {i: images.read(e["image"]["name"]) for i, e in images.manifest["items"].items()}
    assert read == {"a": files["plate2/a.png"]}


def test_a_folder_listing_follows_linked_folders_and_names_a_broken_link(tmp_path):
    image, _ = good_item()
    plates, folder = tmp_path / "storage" / "plate1", tmp_path / "batch"
    plates.mkdir(parents=True)
    folder.mkdir()
    (plates / "A01.png").write_bytes(image)
    (folder / "top.png").write_bytes(image)
    (folder / "plate1").symlink_to(plates, target_is_directory=True)  # plates kept on another disk
    (plates / "back").symlink_to(tmp_path / "storage", target_is_directory=True)  # a loop: listed once
    assert sorted(listing.list_input(str(folder), "images").usable()) == ["plate1__A01", "top"]
    (folder / "gone.png").symlink_to(tmp_path / "deleted.png")
    with pytest.raises(InputError, match=r"gone.png: is a link to a file that does not exist\. Fix: remove the link"):
        listing.list_input(str(folder), "images")


def test_every_file_of_a_duplicate_id_is_named_with_the_fix(tmp_path):
    image, _ = good_item()
    archive = write_dsb_zip(tmp_path / "a.zip", {}, extra={"x.png": image, "x.tif": image, "x.jpg": image,
                                                           "y.png": image})
    inv = listing.list_input(str(archive), "images")
    assert sorted(inv.usable()) == ["y"]
    assert inv.items["x"].problem == "duplicate id: x.jpg, x.png, x.tif share the name 'x'; rename all but one " \
                                     "(or move them into subfolders)"
    assert sorted(inv.items["x"].files()) == ["x.jpg", "x.png", "x.tif"]  # the set-aside table's files column


def test_a_zip_with_backslash_folders_is_refused_with_the_fix(tmp_path):
    image, _ = good_item()
    archive = write_dsb_zip(tmp_path / "win.zip", {}, extra={"batch\\0008.png": image})
    with pytest.raises(InputError, match=r"member 'batch\\0008.png': uses '\\' as its folder separator.*Fix: unzip"):
        listing.list_input(str(archive), "images")


def test_segment_leaves_out_its_own_output_folder_and_names_a_file_it_cannot_read(tmp_path):
    from snakeseg.inference.newimages import images_to_segment

    image, _ = good_item()
    (tmp_path / "batch" / "segmented" / "masks").mkdir(parents=True)
    (tmp_path / "batch" / "sub").mkdir()
    (tmp_path / "batch" / "sub" / "a.png").write_bytes(image)
    (tmp_path / "batch" / "segmented" / "masks" / "a.png").write_bytes(image)  # a run before
    inventory, source = images_to_segment(str(tmp_path / "batch"), tmp_path / "batch" / "segmented")
    assert sorted(inventory.usable()) == ["a"] and inventory.unassigned == [] and source == str(tmp_path / "batch")
    assert sorted(images_to_segment(str(tmp_path / "batch"), tmp_path / "elsewhere")[0].usable()) == [
        "segmented__masks__a", "sub__a"]  # masks/ alone: not known as a segment run's, so listed
    for table in ("summary.csv", "objects.csv"):  # what a finished segment run writes beside its masks/
        (tmp_path / "batch" / "segmented" / table).write_text("id\n")
    assert sorted(images_to_segment(str(tmp_path / "batch"), tmp_path / "batch" / "second")[0].usable()) == ["a"]
    (tmp_path / "pic.webp").write_bytes(b"RIFF....WEBP")
    with pytest.raises(InputError, match="pic.webp: is neither an image snakeseg reads .* Fix: convert it to PNG"):
        images_to_segment(str(tmp_path / "pic.webp"), tmp_path / "out")
    (tmp_path / "cut.zip").write_bytes(b"PK\x03\x04 truncated")  # a broken download keeps the zip's own message
    with pytest.raises(InputError, match="cut.zip: is not a readable zip"):
        images_to_segment(str(tmp_path / "cut.zip"), tmp_path / "out")


def test_a_layout_error_is_short_and_says_what_the_input_looks_like(tmp_path):
    archive = write_dsb_zip(tmp_path / "stage1_train.zip", {f"img{i:02d}": good_item(i) for i in range(20)})
    with pytest.raises(InputError) as err:
        listing.list_input(str(archive), "paired")
    message = str(err.value)
    assert "... and 12 more" in message and len(message) < 1000  # not every <id>/masks folder
    assert message.endswith("the input looks like the dsb2018 layout: set layout: auto")
    (tmp_path / "holder").mkdir()
    shutil.copyfile(archive, tmp_path / "holder" / "stage1_train.zip")
    with pytest.raises(InputError, match="Fix: the folder holds only stage1_train.zip: set input to that zip$"):
        listing.list_input(str(tmp_path / "holder"), "auto")
    # Kaggle's Carvana download: a zip of train.zip and train_masks.zip, or a folder of the two
    image, masks = good_item()
    kaggle = write_dsb_zip(tmp_path / "carvana.zip", {}, extra={"train.zip": b"PK", "train_masks.zip": b"PK",
                                                                "train_masks.csv": b"img,rle_mask\n"})
    with pytest.raises(InputError, match="Fix: the zip holds train.zip, train_masks.zip: unzip them into one folder"):
        listing.list_input(str(kaggle), "auto")
    # HuBMAP's download: images and a CSV of run-length-encoded masks, no masks folder yet
    hubmap = write_dsb_zip(tmp_path / "hubmap.zip", {}, extra={"train/a.tiff": image, "test/b.tiff": image,
                                                               "train.csv": b"id,encoding\n"})
    with pytest.raises(InputError, match="if train.csv holds run-length-encoded masks .*python -m snakeseg rle-masks "
                                         "train.csv <images folder> <images folder>_masks$"):
        listing.list_input(str(hubmap), "auto")
    (tmp_path / "kidney" / "train").mkdir(parents=True)  # a folder with one images folder: the command in full
    (tmp_path / "kidney" / "train" / "a.tiff").write_bytes(image)
    (tmp_path / "kidney" / "train.csv").write_text("id,encoding\n")
    kidney = tmp_path / "kidney"
    with pytest.raises(InputError, match=f"python -m snakeseg rle-masks {kidney / 'train.csv'} {kidney / 'train'} "
                                         f"{kidney / 'train'}_masks$"):
        listing.list_input(str(kidney), "auto")
    (tmp_path / "kidney" / "train" / "a.tiff").rename(tmp_path / "kidney" / "a.tiff")  # images at the top
    with pytest.raises(InputError, match="rle-masks .*train.csv <images folder> <images folder>_masks$"):
        listing.list_input(str(kidney), "auto")
    for name, data in {"images/a.png": image, "labels/a.png": masks[0]}.items():
        (tmp_path / "wounds" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "wounds" / name).write_bytes(data)
    for inner in ("images", "labels"):
        with pytest.raises(InputError, match=f"Fix: {tmp_path / 'wounds' / inner} is itself an images or masks "
                                             f"folder: give the folder above it, {tmp_path / 'wounds'}, which"):
            listing.list_input(str(tmp_path / "wounds" / inner), "auto")
    # a folder named labels/ that holds a whole layout (train/ and val/ sets) gets the layout's own fix
    for name, data in {"train/images/a.png": image, "train/masks/a.png": masks[0],
                       "val/images/b.png": image, "val/masks/b.png": masks[0]}.items():
        (tmp_path / "labels" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "labels" / name).write_bytes(data)
    with pytest.raises(InputError, match="is ambiguous.*Fix: set paired.masks_dir"):
        listing.list_input(str(tmp_path / "labels"), "auto")


def test_a_folder_above_several_dsb2018_sets_does_not_pair_one_sets_image_with_anothers_masks(tmp_path):
    image, masks = good_item(1)
    for top, files in {"train": {"images/a.png": image, "masks/m0.png": masks[0]},
                       "new": {"images/a.png": image}, "other": {"masks/m1.png": masks[0]},
                       "train2": {"images/b.png": image, "masks/m0.png": masks[0]}}.items():
        for name, data in files.items():
            path = tmp_path / top / ("a" if top != "train2" else "b") / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    inv = listing.list_input(str(tmp_path), "dsb2018")
    assert sorted(inv.usable()) == ["b"]
    assert inv.items["a"].problem.startswith("duplicate id: folders new/a, other/a, train/a share the id 'a'")
    assert sorted(inv.items["a"].files()) == ["new/a/images/a.png", "other/a/masks/m1.png",
                                              "train/a/images/a.png", "train/a/masks/m0.png"]

