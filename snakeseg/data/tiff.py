"""TIFF files that hold more than one image: OpenCV reads only the first page, and only the first
channel of a two-channel page, so such a file is refused rather than silently read in part."""

from __future__ import annotations

import io

from ..errors import InputError

MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF, both byte orders
REDUCED = 1  # NewSubfileType bit of a reduced-resolution page (a pyramid level or thumbnail)
NEW_SUBFILE_TYPE, SAMPLES_PER_PIXEL, EXTRA_SAMPLES = 254, 277, 338
ALPHA = (1, 2)  # ExtraSamples values of an alpha channel (associated, unassociated); 0 is other data


def is_tiff(data: bytes) -> bool:
    return data[:4] in MAGIC


def layout(data: bytes) -> tuple[int, int] | None:
    """(full-resolution pages, channels of the first page other than alpha) of a TIFF file, from its
    headers alone; None when Pillow cannot read them (OpenCV's decoding then decides)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as tiff:
            extra = tiff.tag_v2.get(EXTRA_SAMPLES, ())
            extra = extra if isinstance(extra, tuple) else (extra,)
            samples = int(tiff.tag_v2.get(SAMPLES_PER_PIXEL, 1)) - sum(int(e) in ALPHA for e in extra)
            pages = 0
            for i in range(tiff.n_frames):
                tiff.seek(i)
                pages += not int(tiff.tag_v2.get(NEW_SUBFILE_TYPE, 0)) & REDUCED
        return pages, samples
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None


def check_single_image(data: bytes, channels_read: int, name: str) -> None:
    """Raise InputError naming ``name`` when the TIFF holds more than the one image OpenCV read."""
    found = layout(data)
    if found is None:
        return
    pages, channels = found
    if pages > 1:
        raise InputError(name, f"is a TIFF of {pages} images (a stack, or channels stored as pages), of which "
                         "only the first would be read",
                         "save the image or channel to segment as a file of its own (channels as an RGB composite)")
    if channels > channels_read:
        raise InputError(name, f"has {channels} channels, of which only {channels_read} would be read",
                         "save the channel(s) to segment as a grey or RGB image")
