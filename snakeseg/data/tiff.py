"""TIFF files that OpenCV would read in part or wrongly: stacks (it reads the first page) and pages of
other than one or three channels besides alpha (two-channel and 16-bit multi-channel microscopy
images lose channels, five or more are refused as unreadable). Such files are refused, naming why,
unless ``data.channels`` says which channels to read (:func:`read_channels`)."""

from __future__ import annotations

import io

from ..errors import InputError

MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF, both byte orders
REDUCED = 1  # NewSubfileType bit of a reduced-resolution page (a pyramid level or thumbnail)
ALPHA = (1, 2)  # ExtraSamples values of an alpha channel (associated, unassociated); 0 is other data


def is_tiff(data: bytes) -> bool:
    return data[:4] in MAGIC


def layout(data: bytes) -> tuple[int, int] | None:
    """(full-resolution pages, channels of the first page other than alpha) of a TIFF file, from its
    headers alone; None when tifffile cannot read them (OpenCV's decoding then decides)."""
    import tifffile

    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tiff:
            first = tiff.pages.first
            samples = int(first.samplesperpixel) - sum(int(e) in ALPHA for e in first.extrasamples)
            pages = sum(not int(page.subfiletype) & REDUCED for page in tiff.pages)
        return pages, samples
    except Exception:  # noqa: BLE001 - any header tifffile cannot parse: OpenCV's decoding decides
        return None


def check_layout(data: bytes, name: str) -> None:
    """Raise InputError naming ``name`` when the TIFF holds more than one image, or an image of other
    than one (grey) or three (RGB) channels besides alpha."""
    found = layout(data)
    if found is None:
        return
    pages, channels = found
    if pages > 1:
        raise InputError(name, f"is a TIFF of {pages} images (a stack, or channels stored as pages), of which "
                         "only the first would be read",
                         "if its pages are channels, set data.channels to those to segment (0 for the first; in the config "
                         "of the run that trains the models, which segment follows); "
                         "else save each image as a file of its own")
    if channels not in (1, 3):
        raise InputError(name, f"has {channels} channels, where snakeseg reads grey (1) or RGB (3), with or "
                         "without alpha", "set data.channels to the one to three channels to segment (0 for the first; in the config "
                         "of the run that trains the models, which segment follows), "
                         "or save them as a grey or RGB image")


PLANE_AXES = "CSIQ"  # axes read as channels: channels, samples, and pages of unknown meaning


def read_channels(data: bytes, name: str):
    """A TIFF's first image as H x W or H x W x C in the file's channel order, whether its channels are
    samples of a page or pages (an ImageJ or OME hyperstack's C axis): what ``data.channels`` picks
    from. A stack of planes (Z, time) or of several images is refused, naming the file."""
    import numpy as np
    import tifffile

    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            series = tif.series[0]
            arr, axes = series.asarray(), series.axes
    except Exception as err:  # noqa: BLE001 - any file tifffile cannot read
        raise InputError(name, f"cannot be read as a TIFF ({err})", "save it again as a TIFF, PNG or JPEG") from None
    keep = [i for i, a in enumerate(axes) if arr.shape[i] > 1 or a in "YX"]
    arr, axes = arr.reshape([arr.shape[i] for i in keep]), "".join(axes[i] for i in keep)
    others = [a for a in axes if a not in "YX"]
    if len(others) > 1 or (others and others[0] not in PLANE_AXES) or "Y" not in axes or "X" not in axes:
        raise InputError(name, f"is a TIFF of axes {axes} (shape {arr.shape}), where data.channels reads one "
                         "plane of channels (axes YX with C or S)", "save one plane (one z, one time point) per file")
    return arr if not others else np.moveaxis(arr, axes.index(others[0]), -1)
