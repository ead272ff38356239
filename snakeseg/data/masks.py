"""Mask decoding decisions: from whatever encoding users bring to one label map.

Internal label maps are uint8: 0 background, 1..n classes (1 = foreground for binary
tasks), 255 ignored (never scored, never trained on). Every decision taken on the way
(encoding recognised, stray values and what was done with them) is returned as a record
for the dataset QA table; nothing is thresholded silently.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .labelmaps import PNG_LABELS

IGNORE = 255


@dataclass(frozen=True)
class MaskSpec:
    """How masks are to be read (config key ``masks``)."""

    format: str = "binary"          # binary | index | channels | colours
    n_classes: int = 1              # foreground classes
    ignore_value: int | None = None  # stored value meaning "not annotated"
    strict: bool = False            # set aside masks with stray values instead of fixing them
    instances: bool = False         # a mask's values are object ids (an instance label image)
    colours: tuple = ()             # format colours: the RGB colour of class 1, 2, ...

    @classmethod
    def from_config(cls, cfg: dict) -> "MaskSpec":
        classes = cfg.get("classes") or ["foreground"]
        return cls(cfg.get("format", "binary"), len(classes), cfg.get("ignore_value"), cfg.get("strict", False),
                   cfg.get("instances", False), tuple(tuple(c) for c in cfg.get("colours") or ()))


def _grey(arr: np.ndarray) -> tuple[np.ndarray, str]:
    """Collapse a colour mask whose channels agree (R=G=B) to one channel; a mask drawn only in its
    alpha channel (one colour throughout, the object opaque on a transparent ground) is its alpha."""
    if arr.ndim == 2:
        return arr, ""
    colour = arr[..., :3]
    if arr.shape[2] == 4 and (colour == colour[:1, :1]).all() and arr[..., 3].min() < arr[..., 3].max():
        return arr[..., 3], "alpha channel (one colour, drawn in transparency) "
    if (colour == colour[..., :1]).all():
        return colour[..., 0], "R=G=B "
    return colour.max(axis=2), "colour (max over channels) "


def _stray(values: np.ndarray, counts: np.ndarray, keep: set[int]) -> tuple[int, str]:
    extra = [(int(v), int(c)) for v, c in zip(values, counts) if int(v) not in keep]
    return sum(c for _, c in extra), " ".join(f"{v}:{c}" for v, c in extra)


def _fail_or_record(name: str, stray_px: int, stray: str, spec: MaskSpec, fallback: str) -> str:
    if stray_px and spec.strict:
        raise InputError(name, f"has {stray_px} pixels of unexpected values (value:pixels {stray})",
                         f"clean the mask, or set masks.strict: false to {fallback}")
    return fallback if stray_px else ""


def _value_counts(grey: np.ndarray, ignored: np.ndarray | None, ignore_value) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of the pixels not ignored and their counts, in increasing order:
    ``np.unique(grey[~ignored], return_counts=True)``.

    For 8- and 16-bit masks (nearly all) a histogram replaces the sort of every pixel, and a mask
    with a single non-zero value (the usual instance or binary mask) is recognised from its maximum
    and two pixel counts: merging is most of a data job's time.
    """
    if grey.dtype in (np.uint8, np.uint16) and (
            ignore_value is None or (isinstance(ignore_value, (int, np.integer)) and not isinstance(ignore_value, bool))):
        if ignore_value is None and grey.size:
            top = grey.max()
            on = np.count_nonzero(grey)
            if top == 0 or np.count_nonzero(grey == top) == on:  # only 0 and top
                values = [v for v, n in ((0, grey.size - on), (top, on)) if n]
                return np.array(values, grey.dtype), np.array([n for n in (grey.size - on, on) if n], np.intp)
        hist = np.bincount(grey.ravel(), minlength=1)
        if ignore_value is not None and 0 <= ignore_value < hist.size:
            hist[ignore_value] = 0  # exactly the pixels equal to ignore_value
        values = np.flatnonzero(hist)
        return values.astype(grey.dtype), hist[values]
    return np.unique(grey if ignored is None else grey[~ignored], return_counts=True)


def _rgb_codes(arr: np.ndarray) -> np.ndarray:
    """Each pixel's colour of an 8-bit RGB(A) mask as one number, 0xRRGGBB."""
    rgb = arr[..., :3].astype(np.uint32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def _colours(codes: np.ndarray, most: int = 8) -> list[tuple[tuple[int, int, int], int]]:
    """The colours of ``codes`` other than black, with their pixel counts, the most frequent first."""
    values, counts = np.unique(codes[codes != 0], return_counts=True)
    order = np.argsort(-counts, kind="stable")[:most]
    return [((int(values[i]) >> 16, int(values[i]) >> 8 & 255, int(values[i]) & 255), int(counts[i])) for i in order]


def _colour_text(colours: list[tuple[tuple[int, int, int], int]]) -> str:
    return " ".join(f"({r},{g},{b}):{n}" for (r, g, b), n in colours)


def _colours_fix(colours: list[tuple[tuple[int, int, int], int]]) -> str:
    """The config that reads colour masks' colours as classes, with the ``colours`` this one holds
    (another mask may hold a class this one lacks, so they are not the whole list)."""
    listed = ", ".join(f"[{r}, {g}, {b}]" for (r, g, b), _ in colours)
    return (f"set masks.format: colours and masks.colours to each class's RGB colour in the order of masks.classes "
            f"(this mask holds {listed}; black is background), or save the class indices 0..n as a grey or palette PNG")


def _by_colour(arr: np.ndarray, name: str, spec: MaskSpec) -> tuple[np.ndarray, dict]:
    """masks.format colours: the pixels of masks.colours[k] are class k + 1, black is background, and
    any other colour is a stray value (ignored, or the mask set aside with masks.strict)."""
    if arr.ndim != 3 or arr.dtype != np.uint8:
        raise InputError(name, f"is {'single-channel' if arr.ndim != 3 else arr.dtype} but masks.format is "
                         "'colours', which reads 8-bit RGB colours",
                         "use masks.format: index for index maps (a palette PNG is read by its indices), or "
                         "save the masks as 8-bit RGB")
    codes = _rgb_codes(arr)
    labels = np.where(codes == 0, 0, IGNORE).astype(np.uint8)
    for c, (r, g, b) in enumerate(spec.colours, 1):
        labels[codes == (r << 16 | g << 8 | b)] = c
    stray_mask = labels == IGNORE
    stray_px = int(np.count_nonzero(stray_mask))
    stray = _colour_text(_colours(codes[stray_mask])) if stray_px else ""
    action = _fail_or_record(name, stray_px, stray, spec, "ignore those pixels")
    return labels, {"mask_encoding": "8-bit RGB, a colour per class", "stray_pixels": stray_px,
                    "stray_values": stray, "stray_action": action}


def normalise(arr: np.ndarray, name: str, spec: MaskSpec) -> tuple[np.ndarray, dict]:
    """(label map, decision record) for one decoded mask (2-D, or colour H x W x C)."""
    bits = f"{arr.dtype.itemsize * 8}-bit "
    if spec.format == "colours":
        return _by_colour(arr, name, spec)
    if spec.format == "channels":
        if arr.ndim != 3:
            raise InputError(name, "is single-channel but masks.format is 'channels'",
                             "use masks.format: index for index maps, or supply RGB masks")
        if arr.dtype.kind not in "ui":
            raise InputError(name, f"is a {arr.dtype} colour mask; masks.format 'channels' reads integer channels",
                             "save the mask as an 8-bit RGB image (0/255 per class channel)")
        on = arr[..., :spec.n_classes] > (np.iinfo(arr.dtype).max // 2)
        labels = np.zeros(arr.shape[:2], np.uint8)
        for c in range(spec.n_classes):
            labels[on[..., c]] = c + 1
        overlap = int((on.sum(axis=2) > 1).sum())
        # a class drawn in a mixed colour (VOC's olive 128,128,0), not a few blended edge pixels
        if overlap >= max(64, 0.01 * np.count_nonzero(on.any(axis=2))) and arr.dtype == np.uint8:
            colours = _colours(_rgb_codes(arr))
            raise InputError(name, f"has colours that are on in several channels, read as overlapping classes "
                             f"and ignored ({_colour_text(colours)})",
                             _colours_fix(colours) + "; if classes overlap on purpose (one inside another), give "
                             "each pixel one class: a pixel trains as one class")
        action = _fail_or_record(name, overlap, f"overlap:{overlap}", spec, "ignore overlapping pixels")
        labels[on.sum(axis=2) > 1] = IGNORE
        return labels, {"mask_encoding": f"{bits}one channel per class", "stray_pixels": overlap,
                        "stray_values": f"overlap:{overlap}" if overlap else "", "stray_action": action}
    grey, how = _grey(arr)
    ignored = grey == spec.ignore_value if spec.ignore_value is not None else None
    values, counts = _value_counts(grey, ignored, spec.ignore_value)
    if spec.format == "index":
        stray_px, stray = _stray(values, counts, set(range(spec.n_classes + 1)))
        if stray_px and how.startswith("colour"):  # class colours, not indices: every object would be ignored
            colours = _colours(_rgb_codes(arr))
            raise InputError(name, f"is a colour mask whose colours are not class indices (colour:pixels "
                             f"{_colour_text(colours)})", _colours_fix(colours))
        more = [int(v) for v in values if spec.n_classes < v <= 64]  # class indices beyond masks.classes
        action = _fail_or_record(name, stray_px, stray, spec, "ignore those pixels" + (
            f" ({f'values {more[0]}..{more[-1]}' if len(more) > 1 else f'value {more[0]}'}: more classes than the "
            f"{spec.n_classes} of masks.classes, list a name for each to train it)" if more else ""))
        labels = np.where(grey <= spec.n_classes, grey, IGNORE).astype(np.uint8)
        if ignored is not None:
            labels[ignored] = IGNORE
        return labels, {"mask_encoding": f"{bits}{how}index map 0..{spec.n_classes}", "stray_pixels": stray_px,
                        "stray_values": stray, "stray_action": action}
    nonzero = [(int(c), int(v)) for v, c in zip(values, counts) if v != 0]
    if not nonzero:
        labels = np.zeros(grey.shape, np.uint8)
        if ignored is not None:
            labels[ignored] = IGNORE
        return labels, {"mask_encoding": f"{bits}{how}all zero", "stray_pixels": 0, "stray_values": "",
                        "stray_action": ""}
    on = max(nonzero)[1]  # the most frequent non-zero value is "foreground"
    _refuse_label_image(grey, ignored, nonzero, on, name)
    stray_px, stray = _stray(values, counts, {0, on})
    action = _fail_or_record(name, stray_px, stray, spec, f"threshold at {on / 2:g} (half of {on})")
    labels = (grey >= on / 2).astype(np.uint8)
    if ignored is not None:
        labels[ignored] = IGNORE
    return labels, {"mask_encoding": f"{bits}{how}0/{on}", "stray_pixels": stray_px, "stray_values": stray,
                    "stray_action": action}


def _refuse_label_image(grey: np.ndarray, ignored: np.ndarray | None, nonzero: list[tuple[int, int]], on: int,
                        name: str) -> None:
    """InputError for a label image of object ids read as a binary mask: thresholding it at half its
    most frequent id would drop every object of a lower id. Told from a lossy (JPEG) mask's stray
    values by their plateaus: a dropped id fills whole objects, JPEG noise is no flat region."""
    n_dropped = sum(c for c, v in nonzero if v < on / 2)
    if len(nonzero) < 3 or n_dropped < 0.05 * sum(c for c, _ in nonzero):
        return
    dropped = (grey > 0) & (grey < on / 2) & (True if ignored is None else ~ignored)  # ignore_value is no object
    flat = int((dropped[:, :-1] & (grey[:, :-1] == grey[:, 1:])).sum())
    if flat < 0.6 * n_dropped:
        return
    ids = sorted(v for _, v in nonzero)
    few = ids[-1] == 255 and len(ids) <= 21  # classes 1..k and 255, the usual "not annotated"
    raise InputError(name, f"looks like a label image of object ids ({len(ids)} values, {ids[0]} to {ids[-1]}): "
                     f"read as a binary mask, the {n_dropped} pixels under {on / 2:g} (half its most frequent "
                     "value) would be dropped",
                     f"set masks.format: index, masks.classes naming classes 1..{ids[-2]} and masks.ignore_value: "
                     "255 if 255 marks pixels not annotated, or masks.instances: true if each value is one object"
                     if few else "set masks.instances: true (each value one object), or masks.format: index if the "
                     "values are classes")


def instance_image(arr: np.ndarray, name: str, spec: MaskSpec) -> tuple[np.ndarray, np.ndarray, dict]:
    """(label map, object ids, decision record) of an instance label image: every non-zero value
    (other than ``ignore_value``) is one object of the foreground; in a colour image, every colour."""
    grey, how = _grey(arr)
    ignored = grey == spec.ignore_value if spec.ignore_value is not None else np.zeros(grey.shape, bool)
    if how.startswith("colour"):  # objects told apart by colour: one id per (R, G, B), not the channels' max
        colour = arr[..., :3].astype(np.int64)
        grey, how = (colour[..., 0] << 32) | (colour[..., 1] << 16) | colour[..., 2], "colour "
        ignored = (colour == spec.ignore_value).all(axis=2) if spec.ignore_value is not None else ignored
    ids = grey.astype(np.int64)
    ids[ignored] = 0
    labels = (ids > 0).astype(np.uint8)
    labels[ignored] = IGNORE
    values = np.unique(ids)
    n = np.count_nonzero(values)
    if values[-1] > PNG_LABELS:  # ids past 16 bits (a 32-bit TIFF's) renumbered 1..n, so none wraps around
        ids = np.searchsorted(values, ids) + int(values[0] != 0)
    return labels, ids, {"mask_encoding": f"{arr.dtype.itemsize * 8}-bit {how}instance ids ({n} objects)",
                         "stray_pixels": 0, "stray_values": "", "stray_action": "", "objects": n}


def merge_instances(instances: list[np.ndarray]) -> tuple[np.ndarray, int]:
    """Union of binary label maps (0/1, 255 = ignored) and the number of non-empty instances.

    All instances must have the same 2-D shape; a pixel that is foreground in any instance
    is foreground, one ignored in any instance (and foreground in none) stays ignored.
    """
    if not instances:
        raise ValueError("no instance masks to merge")
    shape = instances[0].shape
    fg = np.zeros(shape, dtype=bool)
    ignored = np.zeros(shape, dtype=bool)
    count = 0
    for inst in instances:
        if inst.shape != shape:
            raise ValueError(f"instance mask shape {inst.shape} differs from {shape}")
        on = inst == 1
        count += bool(on.any())
        fg |= on
        ignored |= inst == IGNORE
    labels = fg.astype(np.uint8)
    labels[ignored & ~fg] = IGNORE
    return labels, count


def number_instances(instances: list[np.ndarray]) -> np.ndarray:
    """One object-id map (0 background, 1..n) of binary instance maps, in their order; where two
    overlap, the later one wins."""
    ids = np.zeros(instances[0].shape, np.int32)
    n = 0
    for inst in instances:
        on = inst == 1
        if on.any():
            n += 1
            ids[on] = n
    return ids
