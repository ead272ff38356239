"""TIFF files that OpenCV would read in part or wrongly: stacks (it reads the first page) and pages of
other than one or three channels besides alpha (two-channel and 16-bit multi-channel microscopy
images lose channels, five or more are refused as unreadable). Such files are refused, naming why."""

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
                         "save the image or channel to segment as a file of its own (channels as an RGB composite)")
    if channels not in (1, 3):
        raise InputError(name, f"has {channels} channels, where snakeseg reads grey (1) or RGB (3), with or "
                         "without alpha", "save the channel(s) to segment as a grey or RGB image (Fiji: Image > "
                         "Color > Stack to RGB, or one channel by itself)")
