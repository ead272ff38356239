"""Object-id maps on disk, for the true objects and the predicted ones alike: a 16-bit PNG, or past
65,535 objects a 32-bit TIFF."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

PNG_LABELS = 65535  # the most objects a 16-bit PNG label map holds


def encode_instances(labels: np.ndarray) -> tuple[bytes, str]:
    """(file bytes, suffix) of a label map: a 16-bit single-channel PNG, or past 65,535 objects (a
    whole slide of nuclei) a 32-bit TIFF, as Cellpose saves its masks."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be H x W, got shape {labels.shape}")
    if labels.size and labels.min() < 0:
        raise ValueError(f"labels must be 0 or more, got {labels.min()}")
    suffix = ".png" if not labels.size or labels.max() <= PNG_LABELS else ".tif"
    ok, buf = cv2.imencode(suffix, labels.astype(np.uint16 if suffix == ".png" else np.int32))
    if not ok:
        raise ValueError(f"{suffix} encoding failed")
    return buf.tobytes(), suffix


def decode_instances(data: bytes) -> np.ndarray:
    """The label map (int32) stored by :func:`encode_instances`."""
    img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None or img.ndim != 2:
        raise ValueError("not a single-channel label map")
    return img.astype(np.int32)


def instances_file(folder: Path, image_id: str) -> Path | None:
    """The label map written for ``image_id`` in ``folder`` (PNG or TIFF); None when there is none."""
    return next((p for p in (folder / f"{image_id}{suffix}" for suffix in (".png", ".tif")) if p.exists()), None)
