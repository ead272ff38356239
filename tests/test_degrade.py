"""snakeseg.training.degrade: nnU-Net's noise, blur and low-resolution simulation of the normalised image."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from snakeseg.errors import InputError
from snakeseg.tfenv import tf
from snakeseg.training import augment as A
from snakeseg.training import degrade as D


def _image(seed=0, size=48):
    return np.random.default_rng(seed).normal(size=(size, size, 3)).astype(np.float32)


def test_blur_matches_scipy_and_keeps_a_constant_image_constant():
    image = _image()
    out = D.gaussian_blur(tf.constant(image), tf.constant(0.8), 3).numpy()
    # TensorFlow's REFLECT padding is scipy's "mirror"; truncate so scipy's radius is 3 too
    expected = ndimage.gaussian_filter(image, sigma=(0.8, 0.8, 0), mode="mirror", truncate=3 / 0.8)
    np.testing.assert_allclose(out, expected, atol=1e-5)
    flat = np.full((20, 24, 3), 1.7, np.float32)
    np.testing.assert_allclose(D.gaussian_blur(tf.constant(flat), tf.constant(1.0), 3).numpy(), flat, atol=1e-5)


def test_low_resolution_keeps_the_size_and_loses_fine_detail():
    checker = (np.indices((32, 40)).sum(0) % 2).astype(np.float32)[..., None].repeat(3, -1)
    same = D.low_resolution(tf.constant(checker), tf.constant(1.0)).numpy()
    np.testing.assert_allclose(same, checker, atol=1e-5)  # zoom 1: nothing lost
    coarse = D.low_resolution(tf.constant(checker), tf.constant(0.5)).numpy()
    assert coarse.shape == checker.shape
    assert np.abs(coarse - checker).mean() > 0.3  # a one-pixel checkerboard does not survive halving


@pytest.mark.parametrize("key,value,probability", [("noise", 0.1, D.NOISE_PROBABILITY),
                                                   ("blur", 1.0, D.BLUR_PROBABILITY),
                                                   ("low_resolution", 0.5, D.LOW_RESOLUTION_PROBABILITY)])
def test_each_degradation_acts_on_its_share_of_images(key, value, probability):
    cfg = A.resolve({key: value})
    image = tf.constant(_image(size=32))
    degrade = tf.function(lambda s: D.degrade(image, cfg, s))
    n = 400
    changed = sum(not np.allclose(degrade(tf.constant([i, 7], tf.int64)).numpy(), image.numpy(), atol=1e-4)
                  for i in range(n))
    share = changed / n
    assert abs(share - probability) < 4 * np.sqrt(probability * (1 - probability) / n)
    again = degrade(tf.constant([3, 7], tf.int64)).numpy()
    np.testing.assert_array_equal(again, degrade(tf.constant([3, 7], tf.int64)).numpy())  # seeded


def test_noise_variance_is_at_most_the_configured_one():
    cfg = A.resolve({"noise": 0.1})
    image = tf.zeros((64, 64, 3))
    variances = [float(tf.math.reduce_variance(D.degrade(image, cfg, tf.constant([i, 1], tf.int64))))
                 for i in range(200)]
    noisy = [v for v in variances if v > 0]
    assert noisy and max(noisy) <= 0.1 * 1.1 and min(noisy) < 0.05


def test_resolve_and_describe_the_degradations():
    assert A.describe({"noise": 0.1, "blur": 1.0, "low_resolution": 0.5, "flips": False, "rot90": False}) == (
        "noise variance 0..0.1 (p 0.1), blur sigma 0.5..1 (p 0.2), low resolution x0.5..1 (p 0.25)")
    for bad in ({"noise": -0.1}, {"blur": 4}, {"low_resolution": 1.0}):
        with pytest.raises(InputError, match="train.augment"):
            A.resolve(bad)
