"""Degradations of the normalised training image (nnU-Net's noise, blur and low-resolution simulation),
so that noisy, blurred or coarsely sampled images look like something the network has seen.

Graph code for a tf.data ``map``, like :mod:`.augment`: each draw comes from the pair's ``seed``. They
act on the image after :func:`.patches.apply_stats`, in the units the network sees (x/255 by
default, z-scores with ``data.normalize: zscore``), and never on the target. Configured by
``train.augment`` (:func:`.augment.resolve`):

``noise`` (0 = off)
    with probability :data:`NOISE_PROBABILITY`, Gaussian noise of variance uniform in [0, noise] (nnU-Net: 0.1);
``blur`` (0 = off)
    with probability :data:`BLUR_PROBABILITY`, a Gaussian blur of sigma uniform in [blur / 2, blur] (nnU-Net: 1);
``low_resolution`` (0 = off, below 1)
    with probability :data:`LOW_RESOLUTION_PROBABILITY`, the image shrunk by a zoom uniform in
    [1 - low_resolution, 1] (nearest) and enlarged back (bicubic) (nnU-Net: 0.5).
"""

from __future__ import annotations

import math

from ..tfenv import tf

#: nnU-Net's probabilities of each degradation per training patch.
NOISE_PROBABILITY, BLUR_PROBABILITY, LOW_RESOLUTION_PROBABILITY = 0.1, 0.2, 0.25
KEYS = ("noise", "blur", "low_resolution")


def gaussian_blur(image, sigma, radius: int):
    """``image`` (H x W x C float) blurred with a Gaussian of ``sigma`` (a tensor) truncated at ``radius``
    pixels, each channel on its own, reflect padding."""
    x = tf.range(-radius, radius + 1, dtype=tf.float32)
    kernel = tf.exp(-0.5 * tf.square(x / sigma))
    kernel /= tf.reduce_sum(kernel)
    channels = image.shape[-1]
    along_x = tf.tile(tf.reshape(kernel, [1, -1, 1, 1]), [1, 1, channels, 1])
    along_y = tf.reshape(along_x, [-1, 1, channels, 1])
    padded = tf.pad(image[tf.newaxis], [[0, 0], [radius, radius], [radius, radius], [0, 0]], "REFLECT")
    out = tf.nn.depthwise_conv2d(padded, along_x, [1, 1, 1, 1], "VALID")
    out = tf.nn.depthwise_conv2d(out, along_y, [1, 1, 1, 1], "VALID")
    return tf.ensure_shape(out[0], image.shape)


def low_resolution(image, zoom):
    """``image`` shrunk by ``zoom`` (nearest) and enlarged back to its size (bicubic)."""
    size = tf.shape(image)[:2]
    small = tf.maximum(tf.cast(tf.round(tf.cast(size, tf.float32) * zoom), tf.int32), 1)
    coarse = tf.image.resize(image, small, method="nearest")
    return tf.ensure_shape(tf.image.resize(coarse, size, method="bicubic"), image.shape)


def degrade(image, cfg: dict, seed):
    """The configured degradations of one normalised image, each drawn with probability and strength
    from ``seed``; those configured 0 are left out of the graph."""
    seeds = tf.random.experimental.stateless_split(seed, 6)

    def happens(s, probability):
        return tf.random.stateless_uniform([], s) < probability

    if cfg["noise"]:
        std = tf.sqrt(tf.random.stateless_uniform([], seeds[0], 0.0, cfg["noise"]))
        noisy = image + std * tf.random.stateless_normal(tf.shape(image), seeds[1])
        image = tf.where(happens(seeds[2], NOISE_PROBABILITY), noisy, image)
    if cfg["blur"]:
        sigma = tf.random.stateless_uniform([], seeds[3], cfg["blur"] / 2, cfg["blur"])
        image = tf.cond(happens(seeds[4], BLUR_PROBABILITY),
                        lambda: gaussian_blur(image, sigma, math.ceil(3 * cfg["blur"])), lambda: image)
    if cfg["low_resolution"]:
        draws = tf.random.experimental.stateless_split(seeds[5], 2)
        zoom = tf.random.stateless_uniform([], draws[0], 1.0 - cfg["low_resolution"], 1.0)
        image = tf.cond(happens(draws[1], LOW_RESOLUTION_PROBABILITY),
                        lambda: low_resolution(image, zoom), lambda: image)
    return image
