"""Image sizes read from file headers, without decoding: what a prediction job's memory request needs
before the job decodes anything (a 20,000-px slide's header is a few bytes, its pixels 1.2 GB)."""

from __future__ import annotations

from typing import BinaryIO


def image_size(stream: BinaryIO) -> tuple[int, int] | None:
    """(height, width) of the image file open in ``stream`` (PNG, JPEG, TIFF, BMP, ...) from its
    header, or None when Pillow cannot tell (an unknown or broken file: the job will say which)."""
    from PIL import Image, UnidentifiedImageError

    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # a slide here is no decompression bomb
    try:
        with Image.open(stream) as image:
            width, height = image.size
        return height, width
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return _tiff_size(stream)  # Pillow opens no TIFF of 16-bit samples beyond RGBA
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def _tiff_size(stream: BinaryIO) -> tuple[int, int] | None:
    import tifffile

    try:
        stream.seek(0)
        with tifffile.TiffFile(stream) as tif:
            page = tif.pages.first
            return int(page.imagelength), int(page.imagewidth)
    except Exception:  # noqa: BLE001 - not a TIFF either
        return None
