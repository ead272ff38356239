"""The input's stable name: a symbolic link in the work folder to the user's zip or folder.

The rules read the input through the link, so moving or renaming the zip (and pointing the
config's ``input`` at its new place) changes no rule's inputs and reruns nothing.
"""

from __future__ import annotations

import os


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
