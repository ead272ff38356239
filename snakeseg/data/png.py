"""PNG header checks in plain Python (no OpenCV or NumPy import: make_shards jobs whose files are
already at image_size need neither)."""

from __future__ import annotations

_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_header(data: bytes) -> tuple[int, int, int, int] | None:
    """(width, height, bit depth, colour type) from a PNG's IHDR chunk, or None if not a PNG."""
    if len(data) < 29 or data[:8] != _SIGNATURE or data[12:16] != b"IHDR":
        return None
    return (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big"), data[24], data[25])


def is_plain_png(data: bytes, width: int, height: int) -> bool:
    """True for an 8-bit grey, RGB or RGBA PNG of the given size: a file that TensorFlow's
    ``decode_png(channels=3)`` turns into exactly the pixels ``imageio.decode_image`` gives (grey
    replicated, alpha dropped), so it can be stored as it is instead of decoded and encoded again."""
    header = png_header(data)
    return header is not None and header[:3] == (width, height, 8) and header[3] in (0, 2, 6)
