"""What prediction writes per image, in two steps so that changing the post-processing settings
reruns only the second (nnU-Net post-processes saved probabilities the same way): the network's
mask and foreground probability, then the instance labels and overlay made from them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import atomic
from ..data.imageio import encode_png, read_mask
from ..data.labelmaps import encode_instances
from .collect import link_or_copy
from .geojson import encode_geojson, object_features
from .instances import split_instances
from .overlay import line_width, overlay
from .predict import mask_png, read_prediction

SPLIT_METHODS = {"watershed": "watershed", "none": "components"}
NETWORK_FOLDERS = ("masks", "probabilities")


class NetworkOutputs:
    """Writes ``masks/`` and, unless ``probabilities`` is false, ``probabilities/`` (8-bit foreground
    probability) under ``out``: what a prediction job keeps."""

    def __init__(self, out: Path, n_classes: int, probabilities: bool = True):
        self.out, self.n_classes, self.probabilities = Path(out), n_classes, probabilities
        for name in NETWORK_FOLDERS[:1 + probabilities]:
            (self.out / name).mkdir(parents=True, exist_ok=True)

    def write(self, image_id: str, labels: np.ndarray, fg: np.ndarray) -> None:
        atomic.write_bytes(self.out / "masks" / f"{image_id}.png", encode_png(mask_png(labels, self.n_classes), rgb=False))
        if self.probabilities:
            atomic.write_bytes(self.out / "probabilities" / f"{image_id}.png", encode_png(fg, rgb=False))


def read_network_outputs(folder: str | Path, image_id: str, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(label map, uint8 foreground probability) of one image, as :class:`NetworkOutputs` wrote them."""
    folder = Path(folder)
    return read_prediction(folder / "masks" / f"{image_id}.png", n_classes), read_mask(folder / "probabilities" / f"{image_id}.png")


def link_network_outputs(predicted: str | Path, out: str | Path, probabilities: bool = True) -> None:
    """A prediction job's ``masks/`` (and ``probabilities/``) in ``out`` too, as hard links (a copy
    where the file system has none)."""
    for name in NETWORK_FOLDERS[:1 + probabilities]:
        (Path(out) / name).mkdir(parents=True, exist_ok=True)
        for file in sorted((Path(predicted) / name).iterdir()):
            link_or_copy(file, Path(out) / name / file.name)


class Postprocessor:
    """Writes ``overlays/`` and, for one-class data with instances on, ``instances/`` (object ids: 16-bit
    PNG, 32-bit TIFF past 65,535) under ``out`` from an image's mask and foreground probability; given
    the class names ``outlines``, also ``geojson/`` (:meth:`write_outlines`)."""

    def __init__(self, out: Path, predict_cfg: dict, instances_cfg: dict, n_classes: int,
                 outlines: list[str] | None = None):
        self.out, self.cfg, self.outlines = Path(out), predict_cfg, outlines
        self.instances = instances_cfg if instances_cfg.get("enabled") and n_classes == 1 else None
        for name in ["overlays"] + ["instances"] * bool(self.instances) + ["geojson"] * bool(outlines):
            (self.out / name).mkdir(parents=True, exist_ok=True)

    def write_outlines(self, image_id: str, objects: np.ndarray, table, labels: np.ndarray) -> None:
        """The objects (id map) and their measurements (``table``) as ``geojson/<id>.geojson``, for QuPath."""
        if self.outlines:
            features = object_features(objects, table, labels, self.outlines)
            atomic.write_bytes(self.out / "geojson" / f"{image_id}.geojson", encode_geojson(features))

    def write(self, image_id: str, image: np.ndarray, labels: np.ndarray, fg: np.ndarray,
              truth: np.ndarray | None = None) -> np.ndarray | None:
        """Write one image's outputs; returns its object ids (None without instances)."""
        ids = None
        if self.instances:
            ids = split_instances(labels > 0, fg / np.float32(255), SPLIT_METHODS[self.instances["split"]],
                                  self.instances["min_size"])
            data, suffix = encode_instances(ids)
            atomic.write_bytes(self.out / "instances" / f"{image_id}{suffix}", data)
        shown = overlay(image, labels, truth if self.cfg["overlay_truth"] else None,
                        line_width(self.cfg["overlay_thickness"], image.shape), instances=ids)
        atomic.write_bytes(self.out / "overlays" / f"{image_id}.png", encode_png(shown))
        return ids
