"""Deterministic synthetic DSB2018-style data: nuclei images with one mask PNG per nucleus.

The zip has the Kaggle layout (``<id>/images/<id>.png`` RGBA, ``<id>/masks/<mask id>.png``
0/255, directory entries, fixed timestamps), so the demo exercises the same path as
the real ``stage1_train.zip``. The same parameters always give byte-identical files.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import cv2
import numpy as np

from .. import atomic

_DATE = (1980, 1, 1, 0, 0, 0)


def _hex_id(*parts) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()


def synth_image(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """One RGBA image and its non-overlapping nucleus masks (uint8 0/255 each)."""
    union = np.zeros((height, width), np.uint8)
    instances = []
    target = int(rng.integers(4, 14))
    for _ in range(target * 6):
        if len(instances) == target:
            break
        axes = (int(rng.integers(4, 12)), int(rng.integers(4, 12)))
        centre = (int(rng.integers(axes[0], width - axes[0])), int(rng.integers(axes[1], height - axes[1])))
        inst = cv2.ellipse(np.zeros_like(union), centre, axes, float(rng.uniform(0, 180)), 0, 360, 255, -1)
        if (cv2.dilate(inst, np.ones((3, 3), np.uint8)) & union).any():
            continue
        union |= inst
        instances.append(inst)
    fluorescence = rng.random() < 0.7
    fg = cv2.GaussianBlur(union.astype(np.float32) / 255.0, (5, 5), 1.2)
    noise = rng.normal(0, 0.04, (height, width))
    if fluorescence:  # bright nuclei on black, grey replicated to RGB as in DSB2018
        grey = np.clip(0.05 + fg * rng.uniform(0.5, 0.9) + noise, 0, 1)
        rgb = np.repeat(grey[..., None], 3, axis=2)
    else:  # stained tissue: purple nuclei on a pale pink background
        background, nucleus = np.array([0.93, 0.80, 0.88]), np.array([0.45, 0.25, 0.55])
        rgb = background + fg[..., None] * (nucleus - background) + noise[..., None]
    rgba = np.concatenate([np.clip(rgb * 255, 0, 255).astype(np.uint8), np.full((height, width, 1), 255, np.uint8)], 2)
    return rgba, instances


def _png(arr: np.ndarray) -> bytes:
    if arr.ndim == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGBA2BGRA)
    return cv2.imencode(".png", arr)[1].tobytes()


def _add(zf: zipfile.ZipFile, name: str, data: bytes | None = None) -> None:
    info = zipfile.ZipInfo(name, date_time=_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED if data is not None else zipfile.ZIP_STORED
    info.external_attr = (0o40755 << 16) | 0x10 if data is None else 0o644 << 16
    zf.writestr(info, data or b"")


def build_demo_zip(n_images: int = 48, seed: int = 2018, sizes: tuple[int, ...] = (96, 128, 160)) -> bytes:
    """Bytes of a DSB2018-style zip with ``n_images`` synthetic images of varied sizes."""
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(n_images):
            image_id = _hex_id("snakeseg-demo", seed, i)
            height, width = int(rng.choice(sizes)), int(rng.choice(sizes))
            rgba, instances = synth_image(rng, height, width)
            _add(zf, f"{image_id}/")
            _add(zf, f"{image_id}/images/")
            _add(zf, f"{image_id}/images/{image_id}.png", _png(rgba))
            _add(zf, f"{image_id}/masks/")
            for j, inst in enumerate(instances):
                _add(zf, f"{image_id}/masks/{_hex_id(image_id, j)}.png", _png(inst))
    return buf.getvalue()


def ensure_demo_zip(path: str, n_images: int, seed: int, sizes: list[int]) -> bool:
    """Write the demo zip unless one made with the same parameters is already there."""
    path = Path(path)
    stamp = path.with_suffix(".params.json")
    params = atomic.dumps_json({"n_images": n_images, "seed": seed, "sizes": list(sizes)})
    if path.exists() and stamp.exists() and stamp.read_text() == params:
        return False
    atomic.write_bytes(path, build_demo_zip(n_images, seed, tuple(sizes)))
    atomic.write_text(stamp, params)
    return True


def write_demo_pool(folder: str, n_images: int = 24, seed: int = 2019, sizes: tuple[int, ...] = (96, 128, 160)) -> int:
    """Unannotated demo images (``folder/pool-<i>.png``) for trying active-learning rounds."""
    rng = np.random.default_rng(seed)
    Path(folder).mkdir(parents=True, exist_ok=True)
    for i in range(n_images):
        rgba, _ = synth_image(rng, int(rng.choice(sizes)), int(rng.choice(sizes)))
        atomic.write_bytes(Path(folder) / f"pool-{i:03d}.png", _png(rgba))
    return n_images
