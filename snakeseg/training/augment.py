"""Training augmentation of (image, label map) pairs, for use inside a tf.data ``map``.

Everything here is TensorFlow graph code. The randomness comes from TensorFlow's stateless random
ops, seeded per pair by the caller (``seed``: an int64 tensor of shape [2]), so a run with the same
``train.seed`` draws the same augmentation whatever the threads do; one traced function serves
every element. The configuration (``train.augment``)
is plain Python and read once, when the map function is traced.

* ``image``: ``H x W x 3``, uint8 or float32 in [0, 1] (flips and 90-degree rotations take either,
  arbitrary-angle rotation and colour jitter float32 only);
* ``target``: ``H x W x 1`` label map of the same kind - 0 background, 1..n classes, 255 ignored.

Geometric operations (flips, 90-degree rotations, arbitrary-angle rotation) move image and
target together. The target is only ever resampled with nearest-neighbour lookups, so its
values stay exactly the label values it had (0..n or 255): never blended. Colour jitter
(brightness, contrast, saturation) touches the image only and clips it to [0, 1].

Keys (see :data:`DEFAULTS`):

``flips`` (bool)
    random horizontal and vertical flips (each with probability 1/2);
``rot90`` (bool)
    rotation by k x 90 degrees, k uniform in {0, 1, 2, 3} (non-square inputs swap H and W); with
    ``flips`` too, each pair gets one of the 8 flips/rotations, uniformly (:func:`random_dihedral`);
``rotation`` (degrees, 0 = off)
    rotation about the centre by an angle uniform in [-rotation, rotation], reflect fill
    (as Keras' ``ImageDataGenerator(rotation_range=..., fill_mode="reflect")`` of the Deepskin
    notebook), bilinear for the image and nearest for the target;
``brightness`` (0 = off)
    adds a delta uniform in [-brightness, brightness];
``contrast`` (0 = off, at most 1)
    scales the distance to each channel's mean by a factor uniform in [1 - c, 1 + c];
``saturation`` (0 = off, at most 1)
    scales the HSV saturation by a factor uniform in [1 - s, 1 + s];
``scale`` (0 = off, at most 1)
    native patches only: with probability :data:`SCALE_PROBABILITY` the patch is cut from a region
    ``1 / zoom`` times its side and resized to it, ``zoom`` log-uniform in [1 / (1 + s), 1 + s]
    (nnU-Net: 0.7..1.4), so objects are seen at other sizes than the data's own;
``gamma`` (0 = off, at most 1)
    with probability :data:`GAMMA_PROBABILITY`, image ** gamma, gamma log-uniform in
    [1 / (1 + g), 1 + g] (nnU-Net: 0.7..1.5);
``noise``, ``blur``, ``low_resolution`` (0 = off)
    degradations of the normalised image, :mod:`.degrade`.
"""

from __future__ import annotations

import math

from . import degrade
from ..errors import InputError
from ..tfenv import tf

DEFAULTS: dict = {
    "flips": True,
    "rot90": True,
    "rotation": 0.0,
    "brightness": 0.0,
    "contrast": 0.0,
    "saturation": 0.0,
    "scale": 0.0,
    "gamma": 0.0,
    "noise": 0.0,
    "blur": 0.0,
    "low_resolution": 0.0,
}

#: nnU-Net's probabilities of applying scaling and gamma to a training patch.
SCALE_PROBABILITY, GAMMA_PROBABILITY = 0.2, 0.3

_BOOLS = ("flips", "rot90")
#: numeric keys and the largest value each accepts
_LIMITS = {"rotation": 360.0, "brightness": 1.0, "contrast": 1.0, "saturation": 1.0, "scale": 1.0, "gamma": 1.0,
           "noise": 1.0, "blur": 3.0, "low_resolution": 0.9}
#: keys done pair by pair, after the flip/rotation (:func:`rotate_and_jitter`)
_PER_PAIR = ("rotation", "brightness", "contrast", "saturation", "gamma")


def resolve(cfg: dict | None) -> dict:
    """``cfg`` completed with :data:`DEFAULTS` (``None`` values too).

    Raises :class:`InputError` (a ``ValueError``) for unknown keys or bad values.
    """
    cfg = dict(cfg or {})
    unknown = sorted(set(cfg) - set(DEFAULTS))
    if unknown:
        raise InputError(f"config train.augment: {', '.join(unknown)}", "unknown augmentation key(s)",
                         f"use only {', '.join(DEFAULTS)}")
    out = dict(DEFAULTS)
    for key, value in cfg.items():
        if value is None:
            continue
        if key in _BOOLS:
            if not isinstance(value, bool):
                raise InputError(f"config train.augment.{key}: {value!r}", "is not true or false",
                                 f"set it to true or false (default {str(DEFAULTS[key]).lower()})")
            out[key] = value
        else:
            limit = _LIMITS[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= limit:
                raise InputError(f"config train.augment.{key}: {value!r}", f"is not a number in [0, {limit:g}]",
                                 "use 0 to switch it off or a value up to the limit")
            out[key] = float(value)
    return out


def per_pair_ops(cfg: dict | None) -> bool:
    """True when ``cfg`` asks for arbitrary-angle rotation, colour jitter or gamma (done pair by pair)."""
    c = resolve(cfg)
    return any(c[k] for k in _PER_PAIR)


def describe(cfg: dict | None) -> str:
    """A short human description, e.g. ``"flips, rot90, rotation +-180 deg, brightness 0.1"``."""
    c = resolve(cfg)
    parts = [k for k in _BOOLS if c[k]]
    if c["rotation"]:
        parts.append(f"rotation +-{c['rotation']:g} deg (reflect)")
    parts += [f"{k} {c[k]:g}" for k in ("brightness", "contrast", "saturation") if c[k]]
    if c["scale"]:
        parts.append(f"scale 1/{1 + c['scale']:g}..{1 + c['scale']:g} (p {SCALE_PROBABILITY:g})")
    if c["gamma"]:
        parts.append(f"gamma 1/{1 + c['gamma']:g}..{1 + c['gamma']:g} (p {GAMMA_PROBABILITY:g})")
    if c["noise"]:
        parts.append(f"noise variance 0..{c['noise']:g} (p {degrade.NOISE_PROBABILITY:g})")
    if c["blur"]:
        parts.append(f"blur sigma {c['blur'] / 2:g}..{c['blur']:g} (p {degrade.BLUR_PROBABILITY:g})")
    if c["low_resolution"]:
        parts.append(f"low resolution x{1 - c['low_resolution']:g}..1 (p {degrade.LOW_RESOLUTION_PROBABILITY:g})")
    return ", ".join(parts) if parts else "none"


def rotation_transform(radians, height, width):
    """The ``[1, 8]`` projective transform rotating an image by ``radians`` about its centre.

    ``ImageProjectiveTransformV3`` maps each *output* pixel (x, y) to the *input* point
    (a0 x + a1 y + a2, b0 x + b1 y + b2); this is the inverse rotation about
    ((W - 1) / 2, (H - 1) / 2), so the content turns by ``radians`` (counter-clockwise on
    screen for positive angles, as ``tf.image.rot90``).
    """
    radians = tf.cast(radians, tf.float32)
    cx = (tf.cast(width, tf.float32) - 1.0) / 2.0
    cy = (tf.cast(height, tf.float32) - 1.0) / 2.0
    cos, sin = tf.cos(radians), tf.sin(radians)
    zero = tf.zeros_like(cos)
    row = tf.stack([cos, -sin, cx - cx * cos + cy * sin,
                    sin, cos, cy - cx * sin - cy * cos,
                    zero, zero])
    return tf.reshape(row, [1, 8])


def _transform(x, transform, interpolation: str, fill_mode: str):
    shape = tf.shape(x)
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=x[tf.newaxis], transforms=transform, output_shape=shape[:2],
        fill_value=tf.constant(0.0, tf.float32), interpolation=interpolation, fill_mode=fill_mode)
    return tf.ensure_shape(out[0], x.shape)


def rotate_pair(image, target, radians, fill_mode: str = "REFLECT"):
    """Rotate image (bilinear) and target (nearest) by ``radians`` about the centre, together."""
    shape = tf.shape(image)
    transform = rotation_transform(radians, shape[0], shape[1])
    return (_transform(image, transform, "BILINEAR", fill_mode),
            _transform(target, transform, "NEAREST", fill_mode))


def dihedral_group(cfg: dict) -> list[tuple[bool, bool, bool]]:
    """The transforms the configuration allows, as (transpose, flip left-right, flip up-down), each
    applied in that order, identity first: all 8 flips/rotations with ``flips`` and ``rot90``, the
    4 flips or the 4 rotations with one of them (rotation by k x 90 degrees is a transpose for odd k
    followed by the flips that k implies), the identity alone with neither."""
    if cfg["flips"] and cfg["rot90"]:
        return [(t, lr, ud) for t in (False, True) for lr in (False, True) for ud in (False, True)]
    if cfg["flips"]:
        return [(False, lr, ud) for lr in (False, True) for ud in (False, True)]
    if cfg["rot90"]:
        return [(k % 2 == 1, k >= 2, k in (1, 2)) for k in range(4)]
    return [(False, False, False)]


def apply_dihedral(x, transform: tuple[bool, bool, bool]):
    """One :func:`dihedral_group` transform of an ``H x W (x C)`` tensor (flags known when tracing)."""
    transpose, lr, ud = transform
    if transpose:
        x = tf.transpose(x, [1, 0, *range(2, x.shape.rank)])
    if lr:
        x = tf.reverse(x, [1])
    if ud:
        x = tf.reverse(x, [0])
    return x


def random_dihedral(image, labels, group: list[tuple[bool, bool, bool]], seed):
    """Image and label map (any dtype) moved together by one transform drawn uniformly from ``group``
    (:func:`dihedral_group`) with the pair's own ``seed``."""
    if len(group) == 1:
        return apply_dihedral(image, group[0]), apply_dihedral(labels, group[0])
    k = tf.random.stateless_uniform([], seed, 0, len(group), dtype=tf.int32)
    return tf.switch_case(k, [lambda t=t: (apply_dihedral(image, t), apply_dihedral(labels, t)) for t in group])


def _sometimes_log_uniform(seed, probability: float, spread: float):
    """1 with probability ``1 - probability``, else log-uniform in [1 / (1 + spread), 1 + spread]."""
    seeds = tf.random.experimental.stateless_split(seed, 2)
    limit = math.log1p(spread)
    value = tf.exp(tf.random.stateless_uniform([], seeds[0], -limit, limit, dtype=tf.float32))
    return tf.where(tf.random.stateless_uniform([], seeds[1]) < probability, value, 1.0)


def random_zoom(cfg: dict, seed):
    """The zoom of one native patch (``scale``): 1, or with :data:`SCALE_PROBABILITY` another factor."""
    return _sometimes_log_uniform(seed, SCALE_PROBABILITY, cfg["scale"])


def rotate_and_jitter(image, target, cfg: dict, seed):
    """Arbitrary-angle rotation (reflect fill), colour jitter and gamma, on a float image in [0, 1], drawn
    with the pair's ``seed`` (its own, not the one given to :func:`random_dihedral`)."""
    seeds = tf.random.experimental.stateless_split(seed, 4)
    if cfg["rotation"]:
        limit = math.radians(cfg["rotation"])
        angle = tf.random.stateless_uniform([], seeds[0], -limit, limit, dtype=tf.float32)
        image, target = rotate_pair(image, target, angle)
    jitter = False
    if cfg["brightness"]:
        image = tf.image.stateless_random_brightness(image, cfg["brightness"], seeds[1])
        jitter = True
    if cfg["contrast"]:
        image = tf.image.stateless_random_contrast(tf.clip_by_value(image, 0.0, 1.0), 1.0 - cfg["contrast"],
                                                   1.0 + cfg["contrast"], seeds[2])
        jitter = True
    if cfg["saturation"]:
        image = tf.image.stateless_random_saturation(tf.clip_by_value(image, 0.0, 1.0), 1.0 - cfg["saturation"],
                                                     1.0 + cfg["saturation"], seeds[3])
        jitter = True
    if jitter:
        image = tf.clip_by_value(image, 0.0, 1.0)
    if cfg["gamma"]:  # its own stream, so adding it leaves the draws above as they were
        gamma = _sometimes_log_uniform(tf.random.experimental.stateless_fold_in(seed, 1), GAMMA_PROBABILITY, cfg["gamma"])
        image = tf.pow(tf.clip_by_value(image, 0.0, 1.0), gamma)
    return image, target
