"""Reading the input's table of contents: which images and masks there are, and what is odd.

Two containers (a zip, or a folder) and two layouts:

* ``dsb2018``: ``<id>/images/<id>.png`` with ``<id>/masks/*.png``, one mask per instance;
* ``paired``: an images folder and a masks folder (``masks/``, ``labels/``, ``train_masks/``...)
  whose files pair by stem, optionally with a mask suffix such as ``_mask`` (Carvana).

Only metadata is read: for a zip its central directory (name, size, CRC-32), for a folder
each file's size and modification time. That costs milliseconds for tens of thousands of
files, so the workflow can do it every time it plans the DAG.
"""

from __future__ import annotations

import os
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .errors import InputError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif")
JUNK_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini"}
JUNK_DIRS = {"__MACOSX", ".ipynb_checkpoints"}
MASK_DIR_NAMES = {"masks", "mask", "labels", "label", "annotations", "gt", "groundtruth", "ground_truth"}
IMAGE_DIR_NAMES = {"images", "image", "imgs", "img"}
MASK_SUFFIXES = ("", "_mask", "_masks", "_label", "_labels", "_seg", "_gt")


@dataclass(frozen=True)
class Member:
    """A file of the input: its path inside the container, size and a change stamp.

    The stamp is the CRC-32 for zip members and the modification time (ns) for files.
    """

    name: str
    size: int
    stamp: int

    def as_dict(self) -> dict:
        return {"name": self.name, "size": self.size, "stamp": self.stamp}


@dataclass
class Item:
    """One image and its mask file(s)."""

    image: Member | None = None
    masks: list[Member] = field(default_factory=list)
    kind: str = "instances"  # "instances": one file per object (merged); "semantic": one mask file
    problem: str | None = None

    def files(self) -> list[str]:
        return ([self.image.name] if self.image else []) + [m.name for m in self.masks]


@dataclass
class Inventory:
    layout: str
    items: dict[str, Item]
    # Files that belong to no image (junk, unknown layout), as (name, reason).
    unassigned: list[tuple[str, str]]

    def usable(self) -> dict[str, Item]:
        return {k: v for k, v in self.items.items() if v.problem is None}


def check_member_name(name: str, container: str) -> PurePosixPath:
    """Refuse absolute paths and parent references (zip-slip)."""
    norm = name.replace("\\", "/")
    parts = PurePosixPath(norm).parts
    if norm.startswith("/") or (len(norm) > 1 and norm[1] == ":") or ".." in parts:
        raise InputError(
            f"{container}: member '{name}'",
            "has an unsafe path (absolute, or containing '..') that would be written outside the work folder",
            "repack the zip with relative paths only, e.g. `cd stage1_train && zip -r ../fixed.zip .`",
        )
    return PurePosixPath(norm)


def is_junk(path: PurePosixPath) -> bool:
    return path.name in JUNK_NAMES or path.name.startswith("._") or bool(JUNK_DIRS & set(path.parts))


def is_image_file(path: PurePosixPath) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def list_members(path: str, max_total_mb: float = 51200, max_ratio: float = 200) -> tuple[str, list[Member]]:
    """("zip" or "dir", the files in it), refusing unsafe names and zip bombs."""
    if os.path.isdir(path):
        members = []
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for fname in sorted(files):
                full = os.path.join(root, fname)
                st = os.stat(full)
                members.append(Member(Path(full).relative_to(path).as_posix(), st.st_size, st.st_mtime_ns))
        return "dir", members
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except FileNotFoundError:
        raise InputError(path, "does not exist", "pass an existing zip or folder with `--config input=PATH`")
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(path, f"is not a readable zip file ({exc})",
                         "download it again or re-create it; a truncated download is the usual cause")
    members, total = [], 0
    for info in infos:
        check_member_name(info.filename, path)
        if info.is_dir():
            continue
        total += info.file_size
        if info.file_size > 1 << 20 and info.file_size > max_ratio * max(info.compress_size, 1):
            raise InputError(f"{path}: member '{info.filename}'",
                             f"expands {info.file_size / max(info.compress_size, 1):.0f}-fold "
                             f"(limit limits.max_ratio = {max_ratio:g}), a sign of a zip bomb",
                             "check the file; if it is genuine, raise limits.max_ratio in the config")
        members.append(Member(info.filename, info.file_size, info.CRC))
    if total > max_total_mb * 1e6:
        raise InputError(path, f"expands to {total / 1e6:.0f} MB, more than limits.max_total_mb = {max_total_mb:g}",
                         "check the zip; if it is genuine, raise limits.max_total_mb in the config")
    return "zip", members


def _split_junk(members: list[Member]) -> tuple[list[Member], list[tuple[str, str]]]:
    kept, junk = [], []
    for m in members:
        if is_junk(PurePosixPath(m.name)):
            junk.append((m.name, "operating-system metadata file, ignored"))
        else:
            kept.append(m)
    return kept, junk


def detect_layout(members: list[Member]) -> str:
    """``dsb2018`` when image files sit in ``<id>/images/<id>.*``, else ``paired``."""
    dsb = 0
    for m in members:
        p = PurePosixPath(m.name)
        if len(p.parts) >= 3 and p.parts[-2] == "images" and p.stem == p.parts[-3]:
            dsb += 1
    return "dsb2018" if dsb else "paired"


def inventory_dsb2018(members: list[Member]) -> tuple[dict[str, Item], list[tuple[str, str]]]:
    items: dict[str, Item] = {}
    unassigned = []
    for member in members:
        path = PurePosixPath(member.name)
        kind = path.parts[-2] if len(path.parts) >= 3 else None
        if kind not in ("images", "masks") or not is_image_file(path):
            unassigned.append((member.name, "not in the DSB2018 layout <id>/images/<id>.png, "
                                            "<id>/masks/<mask>.png; ignored"))
            continue
        item = items.setdefault(path.parts[-3], Item(kind="instances"))
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
            item.problem = "masks without an image in images/"
        elif not item.masks:
            item.problem = "image without any mask in masks/"
    return items, unassigned


def _dir_of(member: Member) -> str:
    return str(PurePosixPath(member.name).parent)


def _find_dirs(members: list[Member], images_dir: str | None, masks_dir: str | None) -> tuple[str, str]:
    counts = Counter(_dir_of(m) for m in members if is_image_file(PurePosixPath(m.name)))

    def pick(wanted: str | None, test, what: str, key: str) -> str:
        if wanted:
            hits = [d for d in counts if d == wanted.strip("/") or PurePosixPath(d).name == wanted.strip("/")]
        else:
            hits = [d for d in counts if test(PurePosixPath(d).name.lower())]
        if len(hits) != 1:
            found = ", ".join(sorted(counts)) or "none"
            raise InputError(f"paired layout {what} folder", f"{'is ambiguous' if hits else 'not found'} "
                             f"(candidates: {', '.join(sorted(hits)) or 'none'}; folders with images: {found})",
                             f"set {key} in the config to the folder's name")
        return hits[0]

    masks = pick(masks_dir, lambda n: n in MASK_DIR_NAMES or n.endswith(("_masks", "_labels")), "masks",
                 "paired.masks_dir")
    mask_name = PurePosixPath(masks).name
    carvana = mask_name.rsplit("_", 1)[0] if "_" in mask_name else None
    images = pick(images_dir, lambda n: n in IMAGE_DIR_NAMES or n == carvana, "images", "paired.images_dir")
    return images, masks


def inventory_paired(members: list[Member], images_dir: str | None = None, masks_dir: str | None = None,
                     mask_suffix: str | None = None) -> tuple[dict[str, Item], list[tuple[str, str]]]:
    """Pair ``<images_dir>/<stem>.<ext>`` with ``<masks_dir>/<stem><suffix>.<ext>``."""
    img_dir, mask_dir = _find_dirs(members, images_dir, masks_dir)
    images: dict[str, list[Member]] = defaultdict(list)
    masks: list[Member] = []
    unassigned = []
    for m in members:
        p = PurePosixPath(m.name)
        if _dir_of(m) == img_dir and is_image_file(p):
            images[p.stem].append(m)
        elif _dir_of(m) == mask_dir and is_image_file(p):
            masks.append(m)
        else:
            unassigned.append((m.name, f"not an image in {img_dir}/ or a mask in {mask_dir}/; ignored"))
    stems = [PurePosixPath(m.name).stem for m in masks]
    suffixes = [mask_suffix] if mask_suffix is not None else MASK_SUFFIXES
    suffix = max(suffixes, key=lambda s: sum(1 for st in stems if st.endswith(s) and st[:len(st) - len(s)] in images))
    items: dict[str, Item] = {}
    for stem, found in images.items():
        item = items[stem] = Item(image=found[0], kind="semantic")
        if len(found) > 1:
            item.problem = f"duplicate id: {', '.join(m.name for m in found)} share the name '{stem}'"
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
            item.problem = f"mask without an image in {img_dir}/"
        elif not item.masks:
            item.problem = f"image without a mask in {mask_dir}/ (expected {stem}{suffix}.<ext>)"
        elif len(item.masks) > 1:
            item.problem = f"duplicate id: several masks ({', '.join(m.name for m in item.masks)})"
    return items, unassigned


def list_input(path: str, layout: str = "auto", paired: dict | None = None,
               limits: dict | None = None) -> Inventory:
    """Inventory of a zip or folder in the DSB2018 or the paired-folders layout."""
    _, members = list_members(path, **(limits or {}))
    members, junk = _split_junk(members)
    if layout == "auto":
        layout = detect_layout(members)
    if layout == "dsb2018":
        items, unassigned = inventory_dsb2018(members)
    else:
        try:
            items, unassigned = inventory_paired(members, **(paired or {}))
        except InputError as err:
            raise InputError(f"{path}: {err.path}", err.problem, err.fix) from None
    return Inventory(layout=layout, items=dict(sorted(items.items())), unassigned=sorted(junk + unassigned))


def list_dsb_zip(archive: str) -> Inventory:
    """Inventory of a DSB2018-style zip (kept for callers that know their layout)."""
    return list_input(archive, layout="dsb2018")
