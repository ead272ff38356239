"""Listing the input: which images and masks a zip or folder holds, and what cannot be used.

Two containers (a zip, or a folder) and two layouts:

* ``dsb2018``: ``<id>/images/<id>.png`` with ``<id>/masks/*.png``, one mask per instance;
* ``paired``: an images folder and a masks folder (``masks/``, ``labels/``, ``train_masks/``...)
  whose files pair by stem, optionally with a mask suffix such as ``_mask`` (Carvana);
* ``images``: images without masks, to be segmented (an images folder, or every image in the folder
  and its subfolders).

Only metadata is read (a zip's central directory, a folder's sizes and mtimes), and names are
split with ``str`` operations, not ``PurePosixPath`` objects: the workflow lists the input at every
start, and ``snakemake -n`` on a 10,000-image zip (126k entries) must stay within 3 s.
"""

from __future__ import annotations

import os
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from . import zipread
from ..errors import InputError, NoMasksFolder
from .members import Member, gc_paused, list_members

#: the reasons of masks whose image is missing say this (the end-of-run note counts them apart)
NO_IMAGE = "without an image in"
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif")
JUNK_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini"}
JUNK_DIRS = {"__MACOSX", ".ipynb_checkpoints"}
JUNK_REASON = "operating-system metadata file, ignored"
MASK_DIR_NAMES = {"masks", "mask", "labels", "label", "annotations", "gt", "groundtruth", "ground_truth"}
IMAGE_DIR_NAMES = {"images", "image", "imgs", "img"}
MASK_SUFFIXES = ("", "_mask", "_masks", "_label", "_labels", "_seg", "_gt", "_cp_masks", "_segmentation")


@dataclass
class Item:
    """One image and its mask file(s)."""

    image: Member | None = None
    masks: list[Member] = field(default_factory=list)
    kind: str = "instances"  # "instances": one file per object (merged); "semantic": one mask file; "image": none
    problem: str | None = None
    same_id: list[Member] = field(default_factory=list)  # other images of the same id (set aside with it)

    def files(self) -> list[str]:
        return ([self.image.name] if self.image else []) + [m.name for m in self.masks + self.same_id]


@dataclass
class Inventory:
    layout: str
    items: dict[str, Item]
    # Files that belong to no image (junk, unknown layout), as (name, reason).
    unassigned: list[tuple[str, str]]

    def usable(self) -> dict[str, Item]:
        return {k: v for k, v in self.items.items() if v.problem is None}


# The same answers as PurePosixPath(name).parts / .name / .stem / .suffix / .parent, with str operations.

def _split(name: str) -> tuple[list[str] | tuple[str, ...], str]:
    """(PurePosixPath(name).parts, PurePosixPath(name).name)."""
    parts = name.split("/")
    if "" in parts or "." in parts:  # absolute, '//', trailing '/', '.' components: let pathlib decide
        path = PurePosixPath(name)
        return path.parts, path.name
    return parts, parts[-1]


def _suffix(filename: str) -> str:
    i = filename.rfind(".")
    return filename[i:] if 0 < i < len(filename) - 1 else ""


def _stem(filename: str) -> str:
    i = filename.rfind(".")
    return filename[:i] if 0 < i < len(filename) - 1 else filename


def _nfc(stem: str) -> str:
    """A name in Unicode's composed form: a macOS zip spells 'café' with a combining accent."""
    return unicodedata.normalize("NFC", stem) if not stem.isascii() else stem


def _is_junk_name(name: str) -> bool:
    parts, filename = _split(name)
    return filename in JUNK_NAMES or filename.startswith("._") or not JUNK_DIRS.isdisjoint(parts)


def _is_image_name(filename: str) -> bool:
    return _suffix(filename).lower() in IMAGE_EXTENSIONS


OTHER_IMAGE_EXTENSIONS = {".webp", ".heic", ".heif", ".jp2", ".svs", ".ndpi", ".czi", ".nd2", ".lif", ".vsi", ".mrxs"}


def _ignored(filename: str, reason: str) -> str:
    """``reason``, or for an image format snakeseg does not read (WebP, HEIC, a slide scanner's), the fix."""
    suffix = _suffix(filename).lower()
    if suffix in OTHER_IMAGE_EXTENSIONS:
        return (f"a {suffix} image, a format snakeseg does not read; ignored. Fix: convert it to PNG, JPEG or TIFF "
                "(a slide to an OME-TIFF or tiles)")
    return reason


def _split_junk(members: list[Member]) -> tuple[list[Member], list[tuple[str, str]]]:
    kept, junk = [], []
    for m in members:
        if _is_junk_name(m.name):
            junk.append((m.name, JUNK_REASON))
        else:
            kept.append(m)
    return kept, junk


def detect_layout(members: list[Member]) -> str:
    """``dsb2018`` when image files sit in ``<id>/images/<id>.*``, else ``paired``."""
    for m in members:
        parts, filename = _split(m.name)
        if len(parts) >= 3 and parts[-2] == "images" and _stem(filename) == parts[-3]:
            return "dsb2018"
    return "paired"


def inventory_dsb2018(members: list[Member]) -> tuple[dict[str, Item], list[tuple[str, str]]]:
    items: dict[str, Item] = {}
    unassigned = []
    for member in members:
        parts, filename = _split(member.name)
        kind = parts[-2] if len(parts) >= 3 else None
        if kind not in ("images", "masks") or not _is_image_name(filename):
            unassigned.append((member.name, _ignored(filename, "not in the DSB2018 layout <id>/images/<id>.png, "
                                                               "<id>/masks/<mask>.png; ignored")))
            continue
        folder = "/".join(parts[:-2])  # <id>, or <top>/<id>: an id's images and masks lie in one folder
        item = items.get(folder)
        if item is None:
            item = items[folder] = Item(kind="instances")
        if kind == "masks":
            item.masks.append(member)
        elif item.image is None:
            item.image = member
        else:
            item.problem = f"more than one file in images/ ({item.image.name}, {member.name})"
    for item in items.values():
        item.masks.sort(key=lambda m: m.name)
        if item.problem:
            continue
        if item.image is None:
            item.problem = (f"masks {NO_IMAGE} images/; put the image there (<id>/images/<id>.png) or "
                            "remove the folder")
        elif not item.masks:
            item.problem = ("image without any mask in masks/; add a mask per object, or leave it to segment as a new "
                            "image (predict_input)")
    return _by_id(items), unassigned


def _by_id(by_folder: dict[str, Item]) -> dict[str, Item]:
    """DSB2018 items keyed by id (their folder's name); an id found in several folders (a parent of
    several data sets given as the input) is set aside in each, its folders named."""
    folders: dict[str, list[str]] = defaultdict(list)
    for folder in by_folder:
        folders[folder.rpartition("/")[2]].append(folder)
    items = {}
    for item_id, found in folders.items():
        item = items[item_id] = by_folder[found[0]]
        for other in found[1:]:
            item.same_id += [m for m in [by_folder[other].image, *by_folder[other].masks] if m is not None]
        if len(found) > 1:
            item.problem = (f"duplicate id: folders {', '.join(sorted(found))} share the id '{item_id}'; give one "
                            "data set as the input (its folder or zip), not a folder above several")
    return items


def _dir_of(member: Member) -> str:
    """str(PurePosixPath(member.name).parent)."""
    name = member.name
    parts = name.split("/")
    if "" in parts or "." in parts:
        return str(PurePosixPath(name).parent)
    return name.rpartition("/")[0] or "."


def _few(names: list[str], n: int = 8) -> str:
    """The first ``n`` of ``names`` and how many more (a DSB2018 zip has a masks folder per image)."""
    more = f", ... and {len(names) - n} more" if len(names) > n else ""
    return ", ".join(names[:n]) + more if names else "none"


def _find_dirs(members: list[Member], images_dir: str | None, masks_dir: str | None) -> tuple[str, str]:
    counts = Counter(_dir_of(m) for m in members if _is_image_name(_split(m.name)[1]))

    def pick(wanted: str | None, test, what: str, key: str) -> str:
        if wanted:
            hits = [d for d in counts if d == wanted.strip("/")] or [
                d for d in counts if PurePosixPath(d).name == wanted.strip("/")]  # the path, else a folder's name
        else:
            hits = [d for d in counts if test(PurePosixPath(d).name.lower())]
        if len(hits) != 1:
            found = _few(sorted(counts))
            nested = sum("/" in d for d in counts) > 1  # e.g. one subfolder per class
            error = NoMasksFolder if what == "masks" and not hits else InputError
            raise error(f"paired layout {what} folder", f"{'is ambiguous' if hits else 'not found'} "
                             f"(candidates: {_few(sorted(hits))}; folders with images: {found})",
                             f"set {key} in the config to the folder's name" + (
                                 " (a folder counts only if it holds image files: is it empty?)" if not hits else "") + (
                                 "; images spread over several subfolders (one per class, say) are not a layout: "
                                 "put all images in one folder and their masks in another" if nested else ""))
        return hits[0]

    masks = pick(masks_dir, lambda n: n in MASK_DIR_NAMES or n.endswith(("_masks", "_labels")), "masks",
                 "paired.masks_dir")
    mask_name = PurePosixPath(masks).name
    carvana = mask_name.rsplit("_", 1)[0] if "_" in mask_name else None
    # Carvana: train/ or its high-resolution train_hq/ beside train_masks/
    images = pick(images_dir, lambda n: n in IMAGE_DIR_NAMES or n in (carvana, f"{carvana}_hq"), "images",
                  "paired.images_dir")
    return images, masks


def inventory_paired(members: list[Member], images_dir: str | None = None, masks_dir: str | None = None,
                     mask_suffix: str | None = None) -> tuple[dict[str, Item], list[tuple[str, str]]]:
    """Pair ``<images_dir>/<stem>.<ext>`` with ``<masks_dir>/<stem><suffix>.<ext>``."""
    img_dir, mask_dir = _find_dirs(members, images_dir, masks_dir)
    images: dict[str, list[Member]] = defaultdict(list)
    masks: list[Member] = []
    unassigned = []
    for m in members:
        filename = _split(m.name)[1]
        folder = _dir_of(m)
        if folder == img_dir and _is_image_name(filename):
            images[_nfc(_stem(filename))].append(m)
        elif folder == mask_dir and _is_image_name(filename):
            masks.append(m)
        else:
            reason = f"not an image in {img_dir}/ or a mask in {mask_dir}/; ignored"
            unassigned.append((m.name, _ignored(filename, reason)))
    stems = [_nfc(_stem(_split(m.name)[1])) for m in masks]
    suffixes = [mask_suffix] if mask_suffix is not None else MASK_SUFFIXES
    suffix = max(suffixes, key=lambda s: sum(1 for st in stems if st.endswith(s) and st[:len(st) - len(s)] in images))
    items: dict[str, Item] = {}
    for stem, found in images.items():
        item = items[stem] = Item(image=found[0], kind="semantic", same_id=found[1:])
        if item.same_id:
            item.problem = _duplicate_id(stem, item)
    for m, st in zip(masks, stems):
        key = st[:len(st) - len(suffix)] if suffix and st.endswith(suffix) else None if suffix else st
        item = items.get(key) if key is not None else None
        if item is None:
            items.setdefault(key or st, Item(kind="semantic")).masks.append(m)
        else:
            item.masks.append(m)
    for stem, item in items.items():
        if item.problem:
            continue
        if item.image is None:
            item.problem = f"mask {NO_IMAGE} {img_dir}/; name it after its image (or remove it)"
        elif not item.masks:
            item.problem = (f"image without a mask in {mask_dir}/ (expected {stem}{suffix}.<ext>); add its mask, "
                            "or leave it to segment as a new image (predict_input)")
        elif len(item.masks) > 1:
            item.problem = f"duplicate id: several masks ({', '.join(m.name for m in item.masks)})"
    return items, unassigned


def inventory_images(members: list[Member]) -> tuple[dict[str, Item], list[tuple[str, str]]]:
    """Images without masks (new images to segment): the files of the images folders (``images/``,
    ``imgs/``, ...) and their subfolders when there are any (so a DSB2018 folder's ``<id>/masks/`` are
    left out), else every image file in the folder and its subfolders (a screen's plate and well
    folders). The id is the file's stem, after the subfolders it lies in below the folder all images
    share, images folders left out: ``plate1/A01.tif`` is ``plate1__A01``, DSB2018's
    ``<id>/images/<id>.png`` is ``<id>``."""
    folders = {_dir_of(m) for m in members if _is_image_name(_split(m.name)[1])}
    if not folders:
        raise InputError("images to segment", "found none (no PNG, JPEG, TIFF, BMP or GIF file)",
                         "give a folder or zip of images (predict_input, assl.pool, or segment's images argument)")
    paths = {d: () if d == "." else tuple(d.split("/")) for d in folders}
    named = sorted(d for d in folders if paths[d] and paths[d][-1].lower() in IMAGE_DIR_NAMES)
    taken = {d for d in folders if any(paths[d][:len(paths[n])] == paths[n] for n in named)} if named else folders
    below = len(os.path.commonprefix([paths[d] for d in taken]))  # the folder all images share
    where = named[0] if len(named) == 1 else "the images folders" if named else "the folder"
    items: dict[str, Item] = {}
    unassigned = []
    for m in members:
        folder, filename = _dir_of(m), _split(m.name)[1]
        if folder not in taken or not _is_image_name(filename):
            unassigned.append((m.name, _ignored(filename, f"not an image in {where}; ignored")))
            continue
        stem, path = _stem(filename), paths[folder]
        parts = [p for p in path[below:] if p.lower() not in IMAGE_DIR_NAMES]
        if path[-1:] and path[-1].lower() in IMAGE_DIR_NAMES and parts[-1:] == [stem]:
            parts.pop()  # DSB2018's <id>/images/<id>.png is <id>
        stem = "__".join(parts + [stem])
        if stem in items:
            items[stem].same_id.append(m)
        else:
            items[stem] = Item(image=m, kind="image")
    for stem, item in items.items():
        if item.same_id:
            item.problem = _duplicate_id(stem, item) + " (or move them into subfolders)"
    return items, unassigned


def _duplicate_id(stem: str, item: Item) -> str:
    """The set-aside reason of images sharing an id (``item.image`` and ``item.same_id``)."""
    return f"duplicate id: {', '.join(sorted(item.files()))} share the name '{stem}'; rename all but one"


def one_image(path: Path) -> Inventory:
    """The inventory of a single image file, as :func:`inventory_images` lists a folder of them
    (``python -m snakeseg segment`` takes one image too)."""
    st = path.stat()
    item = Item(image=Member(path.name, st.st_size, st.st_mtime_ns), kind="image")
    return Inventory(layout="images", items={_stem(path.name): item}, unassigned=[])


def is_image_file(path: str) -> bool:
    """A file (not a folder or zip) whose name is an image's."""
    return os.path.isfile(path) and _is_image_name(os.path.basename(path))


def _one_of_the_pair(path: str, layout: str, image_folders: set[str]) -> str:
    """The fix when the input is itself a paired layout's images or masks folder (its images at its
    top, none in subfolders), else ''."""
    own = Path(path.rstrip("/")).name.lower()
    flat = image_folders <= {"."}
    if layout == "paired" and flat and (own in IMAGE_DIR_NAMES or own in MASK_DIR_NAMES
                                        or own.endswith(("_masks", "_labels"))):
        return (f"{path} is itself an images or masks folder: give the folder above it, "
                f"{Path(path.rstrip('/')).parent}, which holds both")
    return ""


def _layout_fix(path: str, layout: str, members: list[Member], err: InputError) -> str:
    """The fix for ``err``, a layout error of ``path`` read as ``layout``: the input's own images or
    masks folder, zips inside it (Kaggle's Carvana download), masks in a CSV, another layout."""
    image_folders = {_dir_of(m) for m in members if _is_image_name(_split(m.name)[1])}
    if pair := _one_of_the_pair(path, layout, image_folders):
        return pair
    holder = "zip" if os.path.isfile(path) else "folder"
    zips = [m.name for m in members if m.name.lower().endswith(".zip")]
    if zips and not image_folders:
        if len(zips) == 1:
            return f"the {holder} holds only {zips[0]}: " + (
                "extract it and set input to it" if holder == "zip" else "set input to that zip")
        return (f"the {holder} holds {_few(zips, 3)}: unzip them into one folder, so that their images and masks "
                "folders sit side by side (Kaggle's Carvana: train/ and train_masks/), and set input to that folder")
    fix = err.fix
    if layout in ("paired", "dsb2018") and (found := detect_layout(members)) != layout:
        fix += f"; the input looks like the {found} layout: set layout: auto"
    if zips:
        fix += f"; the {holder} holds {_few(zips, 2)}: set input to the zip itself"
    csvs = [m.name for m in members if m.name.lower().endswith(".csv")]
    if isinstance(err, NoMasksFolder) and csvs:
        one = next(iter(image_folders)) if len(image_folders) == 1 else "."  # "." too for images at the top
        images = os.path.join(path, one) if holder == "folder" and one != "." else "<images folder>"
        fix += (f"; if {csvs[0]} holds run-length-encoded masks (HuBMAP's train.csv, Carvana's train_masks.csv), "
                f"write them as a masks folder: python -m snakeseg rle-masks "
                f"{os.path.join(path, csvs[0]) if holder == 'folder' else csvs[0]} {images} {images}_masks")
    return fix


def segment_outputs(folder: str) -> list[str]:
    """The subfolders of ``folder`` (relative, POSIX) that a ``segment`` run wrote: ``summary.csv`` and
    ``objects.csv`` beside ``masks/``."""
    return [Path(root).relative_to(folder).as_posix() for root, dirs, files in os.walk(folder)
            if "masks" in dirs and {"summary.csv", "objects.csv"} <= set(files) and Path(root) != Path(folder)]


def list_input(path: str, layout: str = "auto", paired: dict | None = None, limits: dict | None = None,
               directory: zipread.CentralDirectory | None = None, exclude: Sequence[str] = ()) -> Inventory:
    """Inventory of a zip or folder in the DSB2018 or the paired-folders layout (``directory`` as
    for :func:`list_members`), leaving out the subfolders ``exclude`` (output folders inside it)."""
    if layout == "images" and os.path.isdir(path):  # new images: never an earlier segment run's outputs
        exclude = [*exclude, *segment_outputs(path)]
    with gc_paused():
        members = list_members(path, **(limits or {}), directory=directory)
        below = tuple(folder.rstrip("/") + "/" for folder in exclude)
        if below:
            members = [m for m in members if not m.name.startswith(below)]
        members, junk = _split_junk(members)
        if layout == "auto":
            layout = detect_layout(members)
        try:
            if layout == "dsb2018":
                items, unassigned = inventory_dsb2018(members)
            elif layout == "images":
                items, unassigned = inventory_images(members)
            else:
                items, unassigned = inventory_paired(members, **(paired or {}))
        except InputError as err:
            raise type(err)(f"{path}: {err.path}", err.problem, _layout_fix(path, layout, members, err)) from None
        return Inventory(layout=layout, items=dict(sorted(items.items())), unassigned=sorted(junk + unassigned))
