"""Reading the input's table of contents: which images and masks there are, and what is odd.

Only the zip's central directory is read (names, sizes, CRC-32s), which costs
milliseconds even for tens of thousands of members, so the workflow can do it
every time it builds its DAG.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from .errors import InputError
from .imageio import IMAGE_EXTENSIONS

JUNK_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini"}
JUNK_DIRS = {"__MACOSX"}


@dataclass
class Member:
    name: str
    size: int
    crc: int

    def as_dict(self) -> dict:
        return {"name": self.name, "size": self.size, "crc": self.crc}


@dataclass
class Item:
    """One image and its instance masks."""

    image: Member | None = None
    masks: list[Member] = field(default_factory=list)
    problem: str | None = None


@dataclass
class Inventory:
    items: dict[str, Item]
    # Files that belong to no image (junk, unknown layout), as (name, reason).
    unassigned: list[tuple[str, str]]

    def usable(self) -> dict[str, Item]:
        return {k: v for k, v in self.items.items() if v.problem is None}


def check_member_name(name: str, archive: str) -> PurePosixPath:
    """Refuse absolute paths and parent references (zip-slip)."""
    norm = name.replace("\\", "/")
    parts = PurePosixPath(norm).parts
    if norm.startswith("/") or (len(norm) > 1 and norm[1] == ":") or ".." in parts:
        raise InputError(
            f"{archive}: member '{name}'",
            "has an unsafe path (absolute, or containing '..') that would be written outside the work folder",
            "repack the zip with relative paths only, e.g. `cd stage1_train && zip -r ../fixed.zip .`",
        )
    return PurePosixPath(norm)


def is_junk(path: PurePosixPath) -> bool:
    return path.name in JUNK_NAMES or path.name.startswith("._") or bool(JUNK_DIRS & set(path.parts))


def list_dsb_zip(archive: str) -> Inventory:
    """Inventory of a DSB2018-style zip: ``<id>/images/<id>.png`` and ``<id>/masks/*.png``."""
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
    except FileNotFoundError:
        raise InputError(archive, "does not exist", "pass an existing zip with `--config input=PATH`")
    except zipfile.BadZipFile as exc:
        raise InputError(archive, f"is not a readable zip file ({exc})",
                         "download it again or re-create it; a truncated download is the usual cause")
    items: dict[str, Item] = {}
    unassigned: list[tuple[str, str]] = []
    for info in infos:
        path = check_member_name(info.filename, archive)
        if info.is_dir():
            continue
        if is_junk(path):
            unassigned.append((info.filename, "operating-system metadata file, ignored"))
            continue
        parts = path.parts
        member = Member(info.filename, info.file_size, info.CRC)
        kind = parts[-2] if len(parts) >= 3 else None
        if kind not in ("images", "masks") or path.suffix.lower() not in IMAGE_EXTENSIONS:
            unassigned.append((info.filename, "not in the DSB2018 layout <id>/images/<id>.png, "
                                              "<id>/masks/<mask>.png; ignored"))
            continue
        item = items.setdefault(parts[-3], Item())
        if kind == "masks":
            item.masks.append(member)
        elif item.image is None:
            item.image = member
        else:
            item.problem = f"more than one file in images/ ({item.image.name}, {member.name})"
    for image_id, item in items.items():
        item.masks.sort(key=lambda m: m.name)
        if item.problem:
            continue
        if item.image is None:
            item.problem = "masks without an image in images/"
        elif not item.masks:
            item.problem = "image without any mask in masks/"
    return Inventory(items=dict(sorted(items.items())), unassigned=sorted(unassigned))
