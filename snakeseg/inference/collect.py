"""Every new image's outputs in one folder per kind (masks/, overlays/, ...), beside the shards'
folders they come from, so a user takes the masks from one place."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .. import atomic


def collect(shard_dirs: list[str | os.PathLike], out_dirs: list[str | os.PathLike]) -> int:
    """Fill each of ``out_dirs`` (named as a shard's subfolder: ``masks``, ``overlays``, ...) with
    that subfolder's files of every shard, as hard links (no second copy on disk; a copy where the
    file system has none). Returns the files per folder."""
    n = 0
    for out in map(Path, out_dirs):
        sources = [Path(d) / out.name for d in shard_dirs]
        missing = [str(s) for s in sources if not s.is_dir()]
        if missing:
            raise FileNotFoundError(f"{', '.join(missing)}: no such folder of predictions; rerun predict_new")
        with atomic.atomic_dir(out) as tmp:
            n = 0
            for source in sources:
                for file in sorted(source.iterdir()):
                    link_or_copy(file, tmp / file.name)
                    n += 1
    return n


def link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
