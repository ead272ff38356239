"""Image decoding and encoding with OpenCV, with errors that name the file."""

from __future__ import annotations

import io
import os

import cv2
import numpy as np

from ..errors import InputError
from . import tiff
from .png import png_header


JPEG = b"\xff\xd8"
# A phone photo is stored sideways with an EXIF orientation that viewers, annotation tools and
# cv2.imread apply, so its masks are drawn upright; IMREAD_UNCHANGED would ignore it.
JPEG_FLAGS = cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH
PALETTE = 3  # PNG colour type of a palette image


def decode_image(data: bytes, name: str, bit_depth: int | str = "auto", channels: list[int] | None = None) -> np.ndarray:
    """Decode an image file's bytes to an RGB uint8 array (H, W, 3).

    Grey images are replicated to three channels, an alpha channel is dropped, 16-bit images are
    scaled to 8 bits by :func:`to_8_bits` (``data.bit_depth``) and float or signed ones by
    :func:`stretch_to_8_bits`. ``channels`` (``data.channels``) builds the image from those channels
    of the file instead (:func:`channels_image`).
    """
    return decode_image_info(data, name, bit_depth, channels)[0]


def decode_image_info(data: bytes, name: str, bit_depth: int | str = "auto",
                      channels: list[int] | None = None) -> tuple[np.ndarray, dict]:
    """Like :func:`decode_image`, plus the stored channels and dtype (for the QA table; a 16-bit
    image's with the bits its values use)."""
    if channels is not None:
        return channels_image(file_channels(data, name), name, bit_depth, channels)
    arr = _stored_image(data, name)
    info = {"channels": 1 if arr.ndim == 2 else int(arr.shape[2]), "dtype": str(arr.dtype)}
    arr = _as_8_bits(arr, name, bit_depth, info)
    if arr.ndim == 2:
        return cv2.cvtColor(arr, cv2.COLOR_GRAY2RGB), info
    if arr.shape[2] == 4:
        return cv2.cvtColor(arr, cv2.COLOR_BGRA2RGB), info
    return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB), info


def channels_image(stored: np.ndarray, name: str, bit_depth: int | str, channels: list[int]) -> tuple[np.ndarray, dict]:
    """The RGB uint8 image of ``channels`` of an image as :func:`file_channels` gives it, with the
    info of :func:`decode_image_info`. Channels count from 0 in the file's order (RGB(A) for PNG and
    JPEG; a TIFF's samples, or an ImageJ hyperstack's channels), as Cellpose's ``--chan`` and
    CellProfiler's ColorToGray pick them: one channel gives a grey image, two fill red and green
    (blue 0), three red, green and blue."""
    n_stored = 1 if stored.ndim == 2 else stored.shape[2]
    missing = [c for c in channels if c >= n_stored]
    if missing:
        raise InputError(name, f"has {n_stored} channel(s) (0 to {n_stored - 1}), and data.channels asks for channel "
                         f"{missing[0]}", "set data.channels to channels every image has, or remove the image")
    planes = [stored if stored.ndim == 2 else stored[..., c] for c in channels]
    arr = np.ascontiguousarray(planes[0]) if len(planes) == 1 else np.dstack(planes)
    info = {"channels": n_stored, "dtype": str(arr.dtype)}
    arr = _as_8_bits(arr, name, bit_depth, info)  # two channels: their own range, before the blank blue
    if arr.ndim == 2:
        return cv2.cvtColor(arr, cv2.COLOR_GRAY2RGB), info
    return (np.dstack([arr, np.zeros_like(arr[..., 0])]) if arr.shape[2] == 2 else arr), info


def _as_8_bits(arr: np.ndarray, name: str, bit_depth: int | str, info: dict) -> np.ndarray:
    """``arr`` as uint8: 16-bit by :func:`to_8_bits`, float or signed by :func:`stretch_to_8_bits`;
    what was done goes into ``info["dtype"]``."""
    if arr.dtype == np.uint16:
        used = bits_used(arr)
        info["dtype"] = f"uint16 ({used} bits used)"
        return to_8_bits(arr, used if bit_depth == "auto" else int(bit_depth))
    if arr.dtype.kind in "fi":  # 32-bit float TIFFs (deconvolution, ImageJ), signed integers
        arr, low, high = stretch_to_8_bits(arr)
        info["dtype"] += f" (values {low:.4g} to {high:.4g})"
        return arr
    if arr.dtype != np.uint8:
        raise InputError(name, f"has unsupported pixel type {arr.dtype}", "save it as 8- or 16-bit")
    return arr


def file_channels(data: bytes, name: str) -> np.ndarray:
    """The image as stored, H x W or H x W x C in the file's channel order (RGB(A) for PNG and JPEG;
    a TIFF's samples or hyperstack channels, :func:`tiff.read_channels`)."""
    if tiff.is_tiff(data):
        return tiff.read_channels(data, name)
    arr = _stored_image(data, name)
    return arr[..., [2, 1, 0] + ([3] if arr.shape[2] == 4 else [])] if arr.ndim == 3 else arr  # BGR(A) to RGB(A)


def stored_intensity(data: bytes, name: str) -> np.ndarray:
    """The image's values as stored, as one float32 plane (the mean of its colour channels, alpha
    aside): a 12-bit camera's 0..4095, a float TIFF's own units. Per-object intensities measured on it
    compare across images, which their conversions to 8 bits (by each image's bits or range) do not."""
    arr = _stored_image(data, name)
    return arr[..., :3].mean(axis=2, dtype=np.float32) if arr.ndim == 3 else arr.astype(np.float32)


def _stored_image(data: bytes, name: str) -> np.ndarray:
    """:func:`_imdecode`'s array, or an InputError naming the file that is no image."""
    arr = _imdecode(data, name)
    if arr is None:
        raise InputError(name, "cannot be decoded as an image (empty, truncated or not an image file)",
                         "replace it with a readable PNG/JPEG/TIFF, or remove the image from the input")
    return arr


def bits_used(arr: np.ndarray) -> int:
    """The bits an integer image's largest value needs, at least 8 (its alpha channel aside: an opaque
    16-bit alpha is 65,535 whatever the colours' depth)."""
    colour = arr[..., :3] if arr.ndim == 3 else arr
    return max(8, int(colour.max(initial=0)).bit_length())


def to_8_bits(arr: np.ndarray, bits: int) -> np.ndarray:
    """A 16-bit image scaled to 8 bits as data of ``bits`` bits (a 12-bit camera's 0..4095 onto
    0..255, not onto 0..16 as dividing by 257 would; brighter values saturate). ``data.bit_depth:
    auto`` passes :func:`bits_used`, so one image may be read as 11-bit and another as 12-bit."""
    # A table of the 65,536 values, applied a band of rows at a time: a 16-bit slide needs no float
    # copies (3 bytes a pixel of an RGB image at peak instead of 48).
    table = np.minimum(np.arange(65536) * (255.0 / (2**bits - 1)), 255).round().astype(np.uint8)
    return _by_bands(arr, lambda band: table[band])


def stretch_to_8_bits(arr: np.ndarray) -> tuple[np.ndarray, float, float]:
    """A floating-point or signed image mapped from its smallest to its largest finite value onto
    0..255, as ImageJ's 8-bit conversion does by default (NaN becomes 0); with that range."""
    colour = arr[..., :3] if arr.ndim == 3 else arr
    if arr.dtype.kind == "f":
        finite = np.isfinite(colour)
        low = float(np.min(colour, where=finite, initial=np.inf))
        high = float(np.max(colour, where=finite, initial=-np.inf))
        if not finite.any():
            low = high = 0.0
    else:
        low, high = float(colour.min()), float(colour.max())
    scale = 255.0 / (high - low) if high > low else 0.0

    def stretch(band):
        values = (band.astype(np.float32) - np.float32(low)) * np.float32(scale)
        return np.clip(np.nan_to_num(values, nan=0.0, posinf=255.0, neginf=0.0), 0, 255).round()

    return _by_bands(arr, stretch), low, high


def _by_bands(arr: np.ndarray, to_uint8) -> np.ndarray:
    """``to_uint8`` applied to bands of about 4 million values: a slide needs no whole-image copies."""
    out = np.empty(arr.shape, np.uint8)
    values_per_row = max(1, arr.size // max(1, arr.shape[0]))
    rows = max(1, (1 << 22) // values_per_row)
    for top in range(0, arr.shape[0], rows):
        out[top:top + rows] = to_uint8(arr[top:top + rows])
    return out


def _imdecode(data: bytes, name: str) -> np.ndarray | None:
    """OpenCV's decoding of ``data`` as stored (a JPEG turned upright by its EXIF orientation), None
    for what is no image; OpenCV's own refusals (an image over its pixel limit, OPENCV_IO_MAX_IMAGE_PIXELS)
    and TIFFs of several images or of other than grey or RGB channels name the file."""
    if not data:
        return None
    if tiff.is_tiff(data):  # before OpenCV, which would read such a TIFF in part (or not at all)
        tiff.check_layout(data, name)
    try:
        arr = cv2.imdecode(np.frombuffer(data, np.uint8), JPEG_FLAGS if data[:2] == JPEG else cv2.IMREAD_UNCHANGED)
    except cv2.error as err:
        reason = str(err).strip().splitlines()[-1]
        raise InputError(name, f"is refused by OpenCV ({reason})",
                         "split or downscale it, or raise OPENCV_IO_MAX_IMAGE_PIXELS if memory allows") from None
    return arr


def decode_mask(data: bytes, name: str) -> np.ndarray:
    """Decode a mask file to an array of its stored values: H x W, or H x W x C (RGB order) for colour.
    A palette PNG's stored values are its palette indices (labelme's and Pascal VOC's class masks),
    which OpenCV would replace by their colours."""
    header = png_header(data)
    if header is not None and header[3] == PALETTE:
        return _palette_indices(data, name)
    arr = _imdecode(data, name)
    if arr is None:
        raise InputError(name, "cannot be decoded as a mask image (empty, truncated or not an image file)",
                         "replace it with a readable PNG, or remove it from the input")
    if arr.ndim == 3:  # OpenCV's BGR(A) order back to RGB(A), so channel c is class c + 1
        arr = arr[..., [2, 1, 0] + ([3] if arr.shape[2] == 4 else [])]
    return arr


def _palette_indices(data: bytes, name: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as png:
            return np.array(png)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise InputError(name, "cannot be decoded as a mask image (a truncated or broken palette PNG)",
                         "replace it with a readable PNG, or remove it from the input") from None


def read_image(path: str | os.PathLike) -> np.ndarray:
    with open(path, "rb") as fh:
        return decode_image(fh.read(), str(path))


def read_mask(path: str | os.PathLike) -> np.ndarray:
    with open(path, "rb") as fh:
        return decode_mask(fh.read(), str(path))


def encode_png(arr: np.ndarray, rgb: bool = True) -> bytes:
    """Encode an RGB (or single-channel) uint8 array as PNG bytes."""
    if arr.ndim == 3 and rgb:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", arr)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()
