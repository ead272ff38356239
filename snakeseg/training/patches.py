"""Native-resolution training inputs in TensorFlow: per-image intensity statistics (as
``data.normalize`` computes them in NumPy) and random patches with a share placed on foreground."""

from __future__ import annotations

from ..data.masks import IGNORE
from ..data.normalize import GREY_SPREAD, HIGH, LOW, MID_GREY, inverted
from ..tfenv import tf


def bright_grey(image):
    """As :func:`snakeseg.data.normalize.bright_grey`: a grey image with a bright background."""
    sample = tf.cast(image[::4, ::4], tf.float32)
    spread = tf.reduce_mean(tf.reduce_max(sample, -1) - tf.reduce_min(sample, -1))
    return (spread <= GREY_SPREAD) & (tf.reduce_mean(tf.cast(sample > MID_GREY, tf.float32)) > 0.5)


def intensity_stats(image, mode: str, polarity: str = "keep"):
    """``(offset, scale)`` float32 of a uint8 image, as :func:`snakeseg.data.normalize.intensity_stats`."""
    stats = _stats(image, mode)
    if polarity != "auto":
        return stats
    return tf.where(bright_grey(image), tf.stack(inverted((stats[0], stats[1]), mode)), stats)


def _stats(image, mode: str):
    if mode == "none":
        return tf.constant([0.0, 1.0])
    if mode == "zscore":
        x = tf.cast(image, tf.float32) * (1 / 255)
        return tf.stack([tf.reduce_mean(x), 1 / tf.maximum(tf.math.reduce_std(x), 1e-3)])
    counts = tf.math.bincount(tf.reshape(tf.cast(image, tf.int32), [-1]), minlength=256, maxlength=256)
    cdf = tf.cast(tf.cumsum(counts), tf.float64) / tf.cast(tf.size(image), tf.float64)
    low = tf.cast(tf.argmax(tf.cast(cdf >= LOW, tf.int32)), tf.float32)
    high = tf.cast(tf.argmax(tf.cast(cdf >= HIGH, tf.int32)), tf.float32)
    return tf.stack([low / 255, 255 / tf.maximum(high - low, 1)])


def apply_stats(image01, stats, mode: str):
    """``(image01 - offset) * scale`` (clipped to [0, 1] for ``percentile``)."""
    out = (image01 - stats[0]) * stats[1]
    return tf.clip_by_value(out, 0, 1) if mode == "percentile" else out


def _reflect_pad(x, ph, pw):
    """Pad bottom/right by reflection as far as the image allows, the rest with zeros."""
    h, w = tf.shape(x)[0], tf.shape(x)[1]
    rh, rw = tf.minimum(ph, h - 1), tf.minimum(pw, w - 1)
    x = tf.pad(x, [[0, rh], [0, rw], [0, 0]], mode="REFLECT")
    return tf.pad(x, [[0, ph - rh], [0, pw - rw], [0, 0]])


def pad_pair(image, labels, height, width):
    """Image reflect-padded, label map padded with IGNORE, to at least ``height`` x ``width``."""
    h, w = tf.shape(image)[0], tf.shape(image)[1]
    ph, pw = tf.maximum(height - h, 0), tf.maximum(width - w, 0)
    labels = tf.pad(labels, [[0, ph], [0, pw], [0, 0]], constant_values=IGNORE)
    return _reflect_pad(image, ph, pw), labels


#: An image gives one training patch per epoch for every DRAW_AREA patch areas of its own, at least
#: one and at most MAX_DRAWS: at 128 px a 1024-px image gives 4 patches where a 256-px one gives 1.
DRAW_AREA, MAX_DRAWS = 16, 8


def draws_per_image(height, width, patch: int):
    """Patches an image of ``height`` x ``width`` gives per epoch (int64, element-wise for lists)."""
    areas = tf.cast(height, tf.float32) * tf.cast(width, tf.float32) / float(DRAW_AREA * patch * patch)
    return tf.cast(tf.clip_by_value(tf.round(areas), 1, MAX_DRAWS), tf.int64)


def epoch_draws(recipe: dict, sizes: list[list[int]]) -> int:
    """Training samples in one epoch: a patch count per image (native), else one per image."""
    if recipe["mode"] != "native":
        return len(sizes)
    heights, widths = zip(*sizes) if sizes else ((), ())
    return int(tf.reduce_sum(draws_per_image(list(heights), list(widths), recipe["patch_size"])))


def _uniform_int(seed, high):
    """A stateless integer in [0, high)."""
    return tf.random.stateless_uniform([], seed, 0, tf.maximum(high, 1), dtype=tf.int32)


def sample_patch(image, labels, patch: int, foreground_fraction: float, seed, zoom=None):
    """A ``patch`` x ``patch`` crop at a random position; with probability ``foreground_fraction``
    (nnU-Net: 1/3) one that contains a random foreground pixel, at a random place in the patch, so
    small objects are seen. Images smaller than a patch are padded first (:func:`pad_pair`).
    With ``zoom`` (a float32 scalar, ``train.augment.scale``) the crop is ``patch / zoom`` pixels
    wide and resized to ``patch`` (bilinear image, nearest labels)."""
    crop = patch if zoom is None else tf.maximum(tf.cast(tf.round(patch / zoom), tf.int32), 8)
    image, labels = pad_pair(image, labels, crop, crop)
    h, w = tf.shape(image)[0], tf.shape(image)[1]
    seeds = tf.random.experimental.stateless_split(seed, 6)
    label = labels[..., 0]
    foreground = tf.where((label > 0) & (label != IGNORE))
    n_fg = tf.shape(foreground)[0]
    on_foreground = (tf.random.stateless_uniform([], seeds[0]) < foreground_fraction) & (n_fg > 0)

    def around_foreground():
        pixel = tf.cast(tf.gather(foreground, _uniform_int(seeds[1], n_fg)), tf.int32)
        y = pixel[0] - _uniform_int(seeds[2], crop)
        x = pixel[1] - _uniform_int(seeds[3], crop)
        return tf.clip_by_value(y, 0, h - crop), tf.clip_by_value(x, 0, w - crop)

    def anywhere():
        return _uniform_int(seeds[4], h - crop + 1), _uniform_int(seeds[5], w - crop + 1)

    y, x = tf.cond(on_foreground, around_foreground, anywhere)
    image, labels = image[y:y + crop, x:x + crop], labels[y:y + crop, x:x + crop]
    if zoom is None:
        return image, labels
    resized = tf.image.resize(tf.cast(image, tf.float32), [patch, patch])
    image = tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), image.dtype)
    return image, tf.image.resize(labels, [patch, patch], method="nearest")
