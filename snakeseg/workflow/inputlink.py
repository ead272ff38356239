"""The input's stable name: a symbolic link in the work folder to the user's zip or folder.

The rules read the input through the link, so moving or renaming the zip (and pointing the
config's ``input`` at its new place) changes no rule's inputs and reruns nothing.
"""

from __future__ import annotations

import os

from ..errors import InputError


def point(link: str, target: str) -> str:
    """Make ``link`` a symbolic link to ``target`` (absolute), replacing an older one atomically."""
    target = os.path.abspath(target)
    if os.path.islink(link) and os.readlink(link) == target:
        return link
    os.makedirs(os.path.dirname(os.path.abspath(link)), exist_ok=True)
    tmp = f"{link}.tmp-{os.getpid()}"
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(target, tmp)
    os.replace(tmp, link)
    return link


def check_not_replaced_by_demo(link: str, demo_archive: str) -> None:
    """A run without ``input`` plans the demo data; refuse when ``link`` shows that the work folder
    holds another input's shards, which that plan would replace (a report or a dry run run without
    the run's ``--config`` would otherwise retrain everything on the next real run)."""
    if not os.path.islink(link):
        return
    previous = os.readlink(link)
    demo_tail = os.path.join(os.path.basename(os.path.dirname(demo_archive)), os.path.basename(demo_archive))
    if not previous.endswith(os.sep + demo_tail):  # a demo work folder copied or moved elsewhere is still the demo's
        raise InputError(
            "config input",
            f"is not set, so this run would plan the demo data over the shards of {previous} in {os.path.dirname(link)}/",
            f"give the run's own --config input={previous} (or its --configfile), reports and dry runs too; "
            f"to run the demo in this folder instead, delete {link} first",
        )
