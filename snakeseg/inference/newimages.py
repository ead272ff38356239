"""Segmenting staged images without masks (rules predict_new and postprocess_new, ``python -m snakeseg
segment``): each image's outputs, and its rows of the summary, objects and set-aside tables."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from .. import atomic
from ..data import listing, shards, zipmember, zipread
from ..data.imageio import channels_image, decode_image_info, file_channels, stored_intensity
from ..errors import InputError
from .measure import OBJECT_COLUMNS, foreground_objects, measure_objects
from .outputs import NetworkOutputs, Postprocessor, link_network_outputs, read_network_outputs
from .predictor import load_predictor
from .predict import batched
from .summary import COLUMNS, describe

ASIDE_COLUMNS = ["id", "files", "reason"]

log = logging.getLogger("snakeseg")


def predict_pack(pack, predictor, network, threshold: float, batch_size: int, bit_depth,
                 channels: list[int] | None = None, skip: set[str] = frozenset()) -> list[dict]:
    """Predict every image of a staged shard (``pack``) but the ids in ``skip`` with ``predictor``,
    writing its mask and probability with ``network`` (:class:`~.outputs.NetworkOutputs`). Returns the
    set-aside rows: the manifest's, and the images that cannot be decoded."""
    manifest = pack.manifest
    aside = [{"id": i, "files": " ".join(e["files"]), "reason": e["reason"]} for i, e in manifest["set_aside"].items()]
    wanted = [i for i in manifest["items"] if i not in skip]

    def decoded():  # one batch at a time: a shard of slides is never decoded whole
        for image_id in wanted:
            source = manifest["items"][image_id]["image"]["name"]
            try:
                yield image_id, decode_image_info(pack.read(source), source, bit_depth, channels)[0]
            except InputError as err:
                aside.append({"id": image_id, "files": source, "reason": str(err)})  # with its fix

    done = 0
    for batch in batched(decoded(), batch_size, image_of=lambda x: x[1]):
        for (image_id, _), (labels, fg) in zip(batch, predictor.segment([image for _, image in batch], threshold)):
            network.write(image_id, labels, fg)
        done += len(batch)
        log.info("%d/%d images predicted", done, len(wanted))
    return aside


def postprocess_pack(pack, predicted: Path, post, classes: list[str], bit_depth, aside: list[dict],
                     channels: list[int] | None = None) -> dict[str, list]:
    """Post-process the images of ``pack`` that :func:`predict_pack` predicted into ``predicted``,
    writing their outputs with ``post`` (:class:`~.outputs.Postprocessor`). Returns the ``summary``,
    ``objects`` (with several ``classes``, each object's class name) and ``aside`` rows."""
    n_classes = len(classes)
    manifest = pack.manifest
    tables = {"summary": [], "objects": [], "aside": aside}
    done = [i for i in manifest["items"] if (Path(predicted) / "masks" / f"{i}.png").exists()]
    for image_id in done:
        source = manifest["items"][image_id]["image"]["name"]
        data = pack.read(source)
        # Intensities in the stored values: 16-bit and float images are read again, unconverted; with
        # data.channels, the chosen channels' mean and each stored channel's own (QuPath's per channel).
        if channels is None:
            image, info = decode_image_info(data, source, bit_depth)
            values, stored = (image if info["dtype"] == "uint8" else stored_intensity(data, source)), None
        else:
            stored = file_channels(data, source)
            image = channels_image(stored, source, bit_depth, channels)[0]
            values = stored if stored.ndim == 2 else stored[..., channels].mean(axis=2, dtype=np.float32)
        labels, fg = read_network_outputs(predicted, image_id, n_classes)
        ids = post.write(image_id, image, labels, fg)
        tables["summary"].append({"id": image_id, "source": source, "shard": manifest["shard"], **describe(labels, ids, fg)})
        objects = foreground_objects(labels) if ids is None else ids
        table = measure_objects(image_id, objects, values, stored)
        if n_classes > 1:  # an object is one class's connected component: the class of any of its pixels
            class_of = np.zeros(int(objects.max(initial=0)) + 1, np.int64)
            class_of[objects.ravel()] = labels.ravel()
            table.insert(2, "class", [classes[c - 1] for c in class_of[table["object"].to_numpy()]])
        tables["objects"].append(table)
        post.write_outlines(image_id, objects, tables["objects"][-1], labels)
        log.info("%d/%d %s: %d x %d px, %d objects", len(tables["summary"]), len(done), image_id,
                 *labels.shape, objects.max(initial=0))
    return tables


def write_tables(out: Path, tables: dict[str, list]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``summary.csv``, ``objects.csv`` and ``set_aside.csv`` of :func:`postprocess_pack`'s rows in ``out``;
    returns the first two."""
    summary = pd.DataFrame(tables["summary"], columns=COLUMNS)
    objects = pd.concat(tables["objects"]) if tables["objects"] else pd.DataFrame(columns=OBJECT_COLUMNS)
    atomic.write_csv(out / "summary.csv", summary)
    atomic.write_csv(out / "objects.csv", objects)
    atomic.write_csv(out / "set_aside.csv", pd.DataFrame(tables["aside"], columns=ASIDE_COLUMNS))
    return summary, objects


def fold_models(models_dir: Path, engine: str | None) -> tuple[str, list[str]]:
    """The engine and fold models of an experiment's models folder (``results/models/<exp>``:
    ``fold-<k>/model.h5``, engine keras) or quantize folder (``results/quantized/<exp>``: the folds'
    folders of ``model_<engine>.tflite``, default int8), each with its ``settings.json``. Only
    ``fold-<digits>`` folders count (not a backup ``fold-1 copy``)."""
    folds = sorted((p for p in models_dir.glob("fold-*") if re.fullmatch(r"fold-\d+", p.name) and p.is_dir()),
                   key=lambda p: int(p.name[5:]))
    keras_files = [str(p / "model.h5") for p in folds if (p / "model.h5").is_file()]
    chosen, engine = engine, engine or ("keras" if keras_files else "int8")
    models = keras_files if engine == "keras" else [str(p) for p in folds]
    if models and not (models_dir / "settings.json").exists():
        raise InputError(str(models_dir), "has fold models but no settings.json beside them (how their images are "
                         "read and predicted)", "copy the experiment's whole folder, or write its settings.json: "
                         "snakemake results/models/<exp>/settings.json")
    if not models:
        raise InputError(str(models_dir), *_not_a_models_folder(models_dir, chosen))
    if engine != "keras" and keras_files:
        raise InputError(str(models_dir), f"is a models folder (Keras files), not a quantize folder of {engine} models",
                         "give results/quantized/<exp> for a TFLite engine, or leave --engine out")
    expected = read_settings(models_dir).get("folds")  # absent from the settings of earlier versions
    found = [int(Path(m).name[5:]) if engine != "keras" else int(Path(m).parent.name[5:]) for m in models]
    if expected is not None and found != sorted(expected):
        raise InputError(str(models_dir), f"has the models of folds {found or 'none'}, but its settings.json names "
                         f"folds {sorted(expected)}", "copy the whole folder, every fold-<k>/ with its model")
    return engine, models


def _not_a_models_folder(models_dir: Path, engine: str | None) -> tuple[str, str]:
    """The problem and fix of :func:`fold_models` for a folder without fold models: what
    it looked for with ``engine`` (None: either), and the folder to give when this is a level off."""
    wanted = {None: "fold-*/model.h5 (or, in a quantize folder, fold-*/model_int8.tflite)",
              "keras": "fold-*/model.h5"}.get(engine, f"fold-*/model_{engine}.tflite") + " with a settings.json"
    fold = models_dir.parent if models_dir.is_file() else models_dir
    if re.fullmatch(r"fold-\d+", fold.name):
        what = "a model file" if models_dir.is_file() else "a fold folder"
        return (f"is {what}, not an experiment's folder of {wanted}",
                f"give the experiment's folder above it, {fold.parent}")
    problem = f"holds no {wanted} beside them"
    experiments = sorted({str(p.parent) for p in models_dir.glob("*/fold-*") if re.fullmatch(r"fold-\d+", p.name)})
    if experiments:
        return f"{problem}: it holds experiments' folders", f"give one of: {', '.join(experiments)}"
    return problem, ("give an experiment's models folder, results/models/<exp> (or for a TFLite engine its "
                     "quantize folder, results/quantized/<exp>), from a run of snakeseg that wrote its "
                     "settings.json (snakemake results/models/<exp>/settings.json)")


def read_settings(models_dir: Path) -> dict:
    """The models folder's ``settings.json``; InputError naming it when it is not one."""
    path = Path(models_dir) / "settings.json"
    try:
        settings = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise InputError(str(path), f"cannot be read as the models' settings ({err})",
                         "copy it again from results/models/<exp>/ (snakemake --forcerun model_settings writes "
                         "it anew)") from None
    missing = [k for k in ("recipe", "predict", "classes", "instances") if not isinstance(settings, dict) or k not in settings]
    if missing:
        raise InputError(str(path), f"lacks {', '.join(missing)}", "copy it again from results/models/<exp>/")
    return settings


def segment_folder(models_dir: str, source: str, out: str, tta: str | None = None, threads: int = 0,
                   batch_size: int = 8, engine: str | None = None) -> dict[str, list]:
    """``python -m snakeseg segment``: the images of ``source`` (a folder or zip, listed as
    ``predict_input`` is, or one image file) segmented by the fold models of ``models_dir`` (see
    :func:`fold_models`) into ``out``, with the folders and tables of ``results/inference/<exp>/``.
    Returns the tables' rows."""
    models_dir, out, threads = Path(models_dir), Path(out), threads or os.cpu_count()
    engine, models = fold_models(models_dir, engine)
    settings = read_settings(models_dir)
    cfg = {**settings["predict"], "tta": tta or settings["predict"]["tta"], "batch_size": batch_size,
           "engine": engine}
    check_output_folder(out)
    inventory, source = images_to_segment(source, out)
    manifest = shards.build_manifests(inventory, 1)["0000"]
    out.mkdir(parents=True, exist_ok=True)
    remove_unfinished(out)
    predictor = load_predictor(models, settings["recipe"], cfg, threads)
    n_classes, bit_depth = len(settings["classes"]), settings["recipe"]["bit_depth"]
    channels = settings["recipe"].get("channels")  # absent from the settings of earlier versions
    with Unstaged(source, manifest) as images, tempfile.TemporaryDirectory(dir=out, prefix=UNFINISHED) as predicted:
        # The workflow's two steps (rules predict_new, postprocess_new) in one process.
        aside = predict_pack(images, predictor, NetworkOutputs(predicted, n_classes), cfg["threshold"], batch_size,
                             bit_depth, channels)
        post = Postprocessor(out, {**cfg, "overlay_truth": False}, settings["instances"], n_classes,
                             settings["classes"] if cfg.get("geojson", True) else None)  # absent from earlier settings
        tables = postprocess_pack(images, Path(predicted), post, settings["classes"], bit_depth, aside, channels)
        link_network_outputs(predicted, out, cfg["save_probabilities"])
    tables["aside"] += [{"id": "", "files": name, "reason": reason} for name, reason in inventory.unassigned]
    summary, objects = write_tables(out, tables)
    remove_stale_outputs(out, set(summary["id"]))
    write_overview(out, summary, objects, f"New images, {models_dir.name}")
    return tables


OUTPUT_FOLDERS = ("masks", "probabilities", "overlays", "instances", "geojson")


def check_output_folder(out: Path) -> None:
    """InputError when ``out`` has a per-image folder with files but no ``summary.csv``: not an
    earlier segment's output (say the data's own ``masks/``), which this run would overwrite."""
    if (out / "summary.csv").exists():
        return
    for name in OUTPUT_FOLDERS:
        if (out / name).is_dir() and any((out / name).iterdir()):
            raise InputError(str(out / name), "holds files that no earlier segment wrote (no summary.csv beside it); "
                             "this run would overwrite them",
                             "give a new output folder (or delete this one, if an interrupted segment left it)")


#: Prefix of the masks and probabilities a ``segment`` run holds until its outputs are written.
UNFINISHED = ".unfinished-"


def remove_unfinished(out: Path) -> None:
    """Remove what a killed ``segment`` run left in ``out`` (its hidden temporary folder)."""
    for leftover in out.glob(f"{UNFINISHED}*"):
        shutil.rmtree(leftover, ignore_errors=True)
        log.info("removed %s, left by a segment run that did not finish", leftover)


def remove_stale_outputs(out: Path, ids: set[str]) -> None:
    """Remove from ``out``'s per-image folders the files of images this run did not segment (an
    earlier run's, into the same folder), so the folders hold what the tables list."""
    stale = [f for name in OUTPUT_FOLDERS if (out / name).is_dir()
             for f in (out / name).iterdir() if f.is_file() and f.stem not in ids]
    for file in stale:
        file.unlink()
    if stale:
        log.info("removed %d files of images not in this run from %s", len(stale), out)


def images_to_segment(source: str, out: Path) -> tuple[listing.Inventory, str]:
    """The inventory of what ``segment`` reads, and the folder or zip it reads from: one image file,
    or the images of a folder or zip, listed as ``predict_input`` is (``out`` and earlier runs' output
    folders inside the images' folder left out, so that no run segments another's outputs)."""
    if listing.is_image_file(source):  # one image: read from its folder, the only file listed
        return listing.one_image(Path(source)), str(Path(source).parent)
    if os.path.isfile(source) and not source.lower().endswith(".zip") and not zipfile.is_zipfile(source):
        raise InputError(source, "is neither an image snakeseg reads (PNG, JPEG, TIFF, BMP, GIF) nor a zip",
                         "convert it to PNG or TIFF, or give the folder or zip of the images")
    out, folder = Path(out).resolve(), Path(source).resolve()
    if out == folder:
        raise InputError(str(out), "is the images' folder itself: the outputs would be segmented next time",
                         "give an output folder of its own (a new folder inside the images' folder is fine)")
    if not folder.is_dir() or not out.is_relative_to(folder):
        return listing.list_input(source, "images"), source
    return listing.list_input(source, "images", exclude=[out.relative_to(folder).as_posix()]), source


def write_overview(out: Path, summary: pd.DataFrame, objects: pd.DataFrame, title: str) -> None:
    """The report's overview figure of the new images in ``out`` as ``overview.png``, where matplotlib
    is installed (not in the TensorFlow-free environment of requirements-segment.txt)."""
    try:
        from ..evaluation.overview import new_images_overview
    except ImportError:
        log.info("no overview.png: matplotlib is not installed")
        return
    new_images_overview(summary, objects, out / "overlays", 4, str(out / "overview.png"), title)


class Unstaged:
    """A folder's or zip's images read where they are, as :func:`predict_pack` and
    :func:`postprocess_pack` read a staged shard (``manifest``, ``read(name)``): a folder of slides is
    segmented without a copy of it first."""

    def __init__(self, source: str, manifest: dict):
        self.source, self.manifest = Path(source), manifest
        names = [entry["image"]["name"] for entry in manifest["items"].values()]
        self._zip = None if self.source.is_dir() else zipmember.ZipReader(source)
        self._entries = {} if self._zip is None else zipread.find_entries(source, names)

    def read(self, name: str) -> bytes:
        return (self.source / name).read_bytes() if self._zip is None else self._zip.read(self._entries[name])

    def __enter__(self) -> "Unstaged":
        return self

    def __exit__(self, *exc) -> None:
        if self._zip is not None:
            self._zip.close()
