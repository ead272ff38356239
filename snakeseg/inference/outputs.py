"""What a prediction job writes per image: mask, foreground probability, instance labels and overlay."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import atomic
from ..data.imageio import encode_png
from ..data.labelmaps import encode_instances
from .instances import split_instances
from .overlay import overlay
from .predict import mask_png

SPLIT_METHODS = {"watershed": "watershed", "none": "components"}


class PredictionWriter:
    """Writes ``masks/``, ``overlays/`` and, as configured, ``probabilities/`` (8-bit foreground
    probability) and ``instances/`` (object ids: 16-bit PNG, 32-bit TIFF past 65,535) under ``out``."""

    def __init__(self, out: Path, predict_cfg: dict, instances_cfg: dict, n_classes: int,
                 probabilities: bool = True):
        self.out, self.cfg, self.n_classes = Path(out), predict_cfg, n_classes
        self.instances = instances_cfg if instances_cfg.get("enabled") and n_classes == 1 else None
        self.probabilities = probabilities
        folders = ["masks", "overlays"] + ["probabilities"] * probabilities + ["instances"] * bool(self.instances)
        for name in folders:
            (self.out / name).mkdir(parents=True, exist_ok=True)

    def write(self, image_id: str, image: np.ndarray, labels: np.ndarray, fg: np.ndarray,
              truth: np.ndarray | None = None) -> np.ndarray | None:
        """Write one image's outputs; returns its object ids (None without instances)."""
        out = self.out
        atomic.write_bytes(out / "masks" / f"{image_id}.png", encode_png(mask_png(labels, self.n_classes), rgb=False))
        if self.probabilities:
            atomic.write_bytes(out / "probabilities" / f"{image_id}.png", encode_png(fg, rgb=False))
        ids = None
        if self.instances:
            ids = split_instances(labels > 0, fg / np.float32(255), SPLIT_METHODS[self.instances["split"]],
                                  self.instances["min_size"])
            data, suffix = encode_instances(ids)
            atomic.write_bytes(out / "instances" / f"{image_id}{suffix}", data)
        shown = overlay(image, labels, truth if self.cfg["overlay_truth"] else None, self.cfg["overlay_thickness"],
                        instances=ids)
        atomic.write_bytes(out / "overlays" / f"{image_id}.png", encode_png(shown))
        return ids
