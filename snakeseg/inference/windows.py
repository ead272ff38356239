"""Full-resolution prediction: whole images padded to the network's stride, or Gaussian-weighted
sliding windows stitched in strips, with flip/rotation test-time augmentation and fold ensembles.

Everything here works on NumPy arrays and a ``predict_batch`` callable (float32 ``B x H x W x 3``
in [0, 1] -> ``B x H x W x C`` probabilities), so it serves Keras and TFLite models alike.
"""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

PredictBatch = Callable[[np.ndarray], np.ndarray]

#: Test-time augmentation: the flips/rotations applied to the input (and undone on the output).
TTA = {
    "none": [(0, False)],
    "flips": [(0, False), (0, True), (2, False), (2, True)],
    "d4": [(k, flip) for k in range(4) for flip in (False, True)],
}


def _forward(x: np.ndarray, k: int, flip: bool) -> np.ndarray:
    """Rotate a batch ``B x H x W x C`` by k x 90 degrees, then flip it left-right."""
    x = np.rot90(x, k, axes=(1, 2))
    return x[:, :, ::-1] if flip else x


def _inverse(y: np.ndarray, k: int, flip: bool) -> np.ndarray:
    y = y[:, :, ::-1] if flip else y
    return np.rot90(y, -k, axes=(1, 2))


def with_tta(predict_batch: PredictBatch, mode: str = "none") -> PredictBatch:
    """``predict_batch`` averaged over the transforms of ``TTA[mode]`` (each undone on its output).
    Rotations need square inputs, which sliding windows are; whole images are padded square for them."""
    if mode not in TTA:
        raise ValueError(f"predict.tta must be one of {', '.join(TTA)}, not {mode!r}")
    transforms = TTA[mode]

    def predict(x: np.ndarray) -> np.ndarray:
        total = None
        for k, flip in transforms:
            y = _inverse(predict_batch(np.ascontiguousarray(_forward(x, k, flip))), k, flip)
            total = y.astype(np.float32) if total is None else total + y
        return total / len(transforms)

    return predict


def ensemble(predict_batches: list[PredictBatch]) -> PredictBatch:
    """The mean of several models' probabilities (an experiment's fold models)."""
    if not predict_batches:
        raise ValueError("an ensemble needs at least one model")

    def predict(x: np.ndarray) -> np.ndarray:
        return sum(p(x).astype(np.float32) for p in predict_batches) / len(predict_batches)

    return predict


def gaussian_weights(patch: int, sigma_scale: float = 1 / 8, window: int | tuple[int, int] | None = None) -> np.ndarray:
    """nnU-Net's importance map: a Gaussian of sigma ``patch * sigma_scale`` centred on the window,
    its maximum 1 and no zero (the corners still count a little), float32. A ``window`` (side, or
    height and width) larger than ``patch`` gets the patch's Gaussian split at its centre with ones
    between: only a patch's half-width along each edge is down-weighted."""
    height, width = (window, window) if isinstance(window, int) or window is None else window
    w = np.outer(_edge_profile(patch, sigma_scale, height or patch), _edge_profile(patch, sigma_scale, width or patch))
    w[w == 0] = w[w > 0].min()
    return np.maximum(w, 1e-3).astype(np.float32)


def _edge_profile(patch: int, sigma_scale: float, length: int) -> np.ndarray:
    centre, sigma = (patch - 1) / 2, patch * sigma_scale
    g = np.exp(-0.5 * ((np.arange(patch) - centre) / sigma) ** 2)
    g /= g.max()
    half = patch // 2
    return np.concatenate([g[:half], np.ones(length - 2 * half), g[patch - half:]])


def window_starts(length: int, window: int, step: int) -> list[int]:
    """Starts of windows of ``window`` covering ``length`` (>= window) at most ``step`` apart, the
    first at 0 and the last ending at ``length`` (nnU-Net's steps)."""
    if length <= window:
        return [0]
    n = int(np.ceil((length - window) / max(1, step))) + 1
    return [int(round(i * (length - window) / (n - 1))) for i in range(n)]


def window_step(patch: int, overlap: float, window: int | None = None) -> int:
    """Distance between window starts: neighbours overlap by ``overlap`` x ``patch`` pixels, as
    nnU-Net's windows of the training patch do, whatever the window's side."""
    return max(1, (window or patch) - int(round(patch * overlap)))


def pad_to(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """``image`` reflect-padded at the bottom and right to at least ``height`` x ``width``
    (edge-padded where it is too small to reflect)."""
    ph, pw = max(0, height - image.shape[0]), max(0, width - image.shape[1])
    if not ph and not pw:
        return image
    pad = ((0, ph), (0, pw)) + ((0, 0),) * (image.ndim - 2)
    mode = "reflect" if ph < image.shape[0] and pw < image.shape[1] else "edge"
    return np.pad(image, pad, mode=mode)


def predict_whole(predict_batch: PredictBatch, images: np.ndarray | list[np.ndarray], stride: int,
                  square: bool = False) -> np.ndarray:
    """One forward pass over whole images of one size, padded to a multiple of ``stride`` (and
    square, for rotations), cropped back: ``H x W x C`` probabilities (``B x H x W x C`` for a list)."""
    batch = [images] if isinstance(images, np.ndarray) else images
    h, w = batch[0].shape[:2]
    ph, pw = -(-h // stride) * stride, -(-w // stride) * stride
    if square:
        ph = pw = max(ph, pw)
    out = predict_batch(np.stack([pad_to(x, ph, pw) for x in batch]))[:, :h, :w]
    return out[0] if isinstance(images, np.ndarray) else out


def _batches(items: list, n: int) -> Iterator[list]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


def predict_strips(predict_batch: PredictBatch, image: np.ndarray, patch: int, overlap: float = 0.5,
                   batch_size: int = 8, window: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Sliding-window prediction in horizontal strips: yields ``(row, probabilities)`` for
    consecutive bands of rows once no later window touches them, so a large image never holds
    more than one band of windows' worth of float sums. Windows are ``window`` x ``window`` (at
    least the training ``patch``), neighbours overlapping by ``overlap`` x ``patch`` pixels,
    weighted by :func:`gaussian_weights`, ``batch_size`` patches' worth of pixels per call."""
    h, w = image.shape[:2]
    # A side shorter than the window gets a window of its own length (rounded up to 32), not padding.
    side_h, side_w = (max(patch, min(window or patch, -(-n // 32) * 32)) for n in (h, w))
    padded_h, padded_w = max(h, side_h), max(w, side_w)
    if (padded_h, padded_w) != (h, w):
        image = pad_to(image, padded_h, padded_w)
    weights = gaussian_weights(patch, window=(side_h, side_w))[..., None]
    rows = window_starts(padded_h, side_h, window_step(patch, overlap, side_h))
    cols = window_starts(padded_w, side_w, window_step(patch, overlap, side_w))
    per_call = max(1, batch_size * patch ** 2 // (side_h * side_w))
    done = 0  # rows of the image already yielded
    band_start, acc, norm = 0, None, None
    for i, y in enumerate(rows):
        windows = [image[y:y + side_h, x:x + side_w] for x in cols]
        outs = [predict_batch(np.stack(batch).astype(np.float32)) for batch in _batches(windows, per_call)]
        out = np.concatenate(outs)
        if acc is None:
            acc = np.zeros((side_h, padded_w, out.shape[-1]), np.float32)
            norm = np.zeros((side_h, padded_w, 1), np.float32)
        if y + side_h > band_start + acc.shape[0]:  # grow the band downwards
            extra = y + side_h - band_start - acc.shape[0]
            acc = np.concatenate([acc, np.zeros((extra,) + acc.shape[1:], np.float32)])
            norm = np.concatenate([norm, np.zeros((extra,) + norm.shape[1:], np.float32)])
        for x, o in zip(cols, out):
            acc[y - band_start:y - band_start + side_h, x:x + side_w] += o * weights
            norm[y - band_start:y - band_start + side_h, x:x + side_w] += weights
        final = rows[i + 1] if i + 1 < len(rows) else padded_h  # rows above the next window are complete
        if final > done:
            stop = min(final, h)
            if stop > done:
                yield done, (acc[done - band_start:stop - band_start, :w] / norm[done - band_start:stop - band_start, :w])
            done = final
            keep = done - band_start
            acc, norm, band_start = acc[keep:], norm[keep:], done


def predict_tiled(predict_batch: PredictBatch, image: np.ndarray, patch: int, overlap: float = 0.5,
                  batch_size: int = 8, window: int | None = None) -> np.ndarray:
    """:func:`predict_strips` gathered into one ``H x W x C`` probability map."""
    return np.concatenate([p for _, p in predict_strips(predict_batch, image, patch, overlap, batch_size, window)])
