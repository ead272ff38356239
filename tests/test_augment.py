"""training.augment: geometric ops keep image and label map aligned, labels stay exact, jitter is image-only."""

from __future__ import annotations

import math

import numpy as np
import pytest

from snakeseg.errors import InputError
from snakeseg.tfenv import keras, tf
from snakeseg.training import augment as A

LABELS = {0.0, 1.0, 2.0, 255.0}
OFF = {"flips": False, "rot90": False}


def label_pair(size=48, seed=0):
    """A label map of blocks (classes 1 and 2, an ignored 255 patch) and an image whose red channel
    is the label map / 255 (green and blue random), so alignment can be read off the image."""
    rng = np.random.default_rng(seed)
    target = np.zeros((size, size), np.float32)
    target[4:20, 6:30] = 1
    target[26:44, 10:22] = 2
    target[30:40, 30:46] = 1
    target[8:16, 36:44] = 255
    image = rng.random((size, size, 3)).astype(np.float32)
    image[..., 0] = target / 255.0
    return image, target[..., None]


def dihedral(x):
    """The 8 flips/90-degree rotations of an HxWxC array."""
    out = []
    for k in range(4):
        r = np.rot90(x, k, axes=(0, 1))
        out += [r, r[:, ::-1]]
    return out


_DRAWS = iter(range(10**9))


def augment(image, target, cfg, seed=None):
    """One pair augmented as the training pipeline does it: flip/rotation, then rotation and jitter,
    each with its own seed (a fresh one per call unless ``seed`` is given)."""
    c = A.resolve(cfg)
    n = next(_DRAWS) if seed is None else seed
    seeds = tf.constant([[n, 1], [n, 2]], tf.int64)
    return A.rotate_and_jitter(*A.random_dihedral(image, target, A.dihedral_group(c), seeds[0]), c, seeds[1])


def run(image, target, cfg):
    i, t = augment(tf.constant(image), tf.constant(target), cfg)
    return i.numpy(), t.numpy()


def test_resolve_and_describe():
    assert A.resolve(None) == A.DEFAULTS
    assert A.resolve({"rotation": 90})["rotation"] == 90.0
    assert A.describe(None) == "flips, rot90"
    assert A.describe(OFF) == "none"
    assert "rotation +-360" in A.describe({"rotation": 360, "brightness": 0.1})
    assert A.per_pair_ops({"brightness": 0.1}) and A.per_pair_ops({"rotation": 10}) and not A.per_pair_ops(None)
    assert A.per_pair_ops({"gamma": 0.5}) and not A.per_pair_ops({"scale": 0.4})  # scale acts when cropping
    assert A.describe({"scale": 0.4, "gamma": 0.5}) == "flips, rot90, scale 1/1.4..1.4 (p 0.2), gamma 1/1.5..1.5 (p 0.3)"
    for bad in ({"flip": True}, {"flips": 1}, {"rotation": -5}, {"contrast": 1.5}, {"brightness": "x"}, {"scale": 2}):
        with pytest.raises(InputError, match="train.augment"):
            A.resolve(bad)


def test_all_off_is_identity():
    image, target = label_pair()
    i, t = run(image, target, {**OFF, "rotation": 0, "brightness": 0, "contrast": 0, "saturation": 0})
    assert np.array_equal(i, image) and np.array_equal(t, target)


@pytest.mark.parametrize("cfg,allowed", [({"flips": True, "rot90": True}, range(8)),
                                         ({"flips": True, "rot90": False}, (0, 1, 4, 5)),
                                         ({"flips": False, "rot90": True}, (0, 2, 4, 6))])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_random_dihedral_is_exact_aligned_and_covers_the_configured_transforms(cfg, allowed, dtype):
    """random_dihedral (uint8 pairs in the training pipeline, float32 too): each draw is one of the
    allowed flips/rotations, the same for image and label map, exact; over 120 draws every allowed one
    appears (dihedral() lists rotations k = 0..3, each followed by its left-right mirror)."""
    keras.utils.set_random_seed(5)
    image, target = label_pair(size=24)
    if dtype == np.uint8:
        image, target = np.round(image * 255).astype(np.uint8), target.astype(np.uint8)
    images, targets = dihedral(image), dihedral(target)
    group = A.dihedral_group(A.resolve(cfg))
    draw = tf.function(lambda i, t, s: A.random_dihedral(i, t, group, s))  # one traced function
    counts = dict.fromkeys(range(8), 0)
    for n in range(120):
        i, t = (x.numpy() for x in draw(tf.constant(image), tf.constant(target), tf.constant([n, 7], tf.int64)))
        assert i.dtype == dtype and t.dtype == dtype and i.shape == image.shape and t.shape == target.shape
        hits = [k for k in range(8) if np.array_equal(i, images[k])]
        assert len(hits) == 1, "image is not a flip/rotation of the input"
        assert np.array_equal(t, targets[hits[0]]), "target got a different transform than the image"
        counts[hits[0]] += 1
    assert {k for k, c in counts.items() if c} == set(allowed)
    expected = 120 / len(allowed)  # uniform: each well within 3.5 standard deviations of its share
    assert all(abs(counts[k] - expected) < 3.5 * math.sqrt(expected) for k in allowed), counts


def test_rotation_matches_rot90_at_right_angles():
    image, target = label_pair(size=32)
    i, t = A.rotate_pair(image, target, math.pi / 2)
    assert np.array_equal(t.numpy(), np.rot90(target, 1, axes=(0, 1)))
    assert np.allclose(i.numpy(), np.rot90(image, 1, axes=(0, 1)), atol=1e-5)


def misalignment(i, t):
    """(largest |red - label / 255| away from label borders, fraction of pixels away from them).

    Bilinear (image) and nearest (target) agree wherever the target's 5x5 neighbourhood is one label
    (and the whole 5x5 lies inside the image: at the edges the reflected neighbours are not visible).
    """
    t2 = t[..., 0]
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(t2, 2, constant_values=-1), (5, 5))
    interior = (windows == t2[..., None, None]).all(axis=(2, 3))
    return float(np.abs(i[..., 0] - t2 / 255.0)[interior].max()), float(interior.mean())


def test_rotation_keeps_labels_exact_and_aligned():
    image, target = label_pair()
    for _ in range(12):
        i, t = run(image, target, {**OFF, "rotation": 180})
        assert i.shape == image.shape and t.shape == target.shape
        assert set(np.unique(t)) <= LABELS, "rotation blended label values"
        assert 0.0 <= i.min() and i.max() <= 1.0
        worst, interior = misalignment(i, t)
        assert worst < 1e-4, "image and target moved differently"
        assert interior > 0.25  # a good part of the image is checked
        # the ignored patch survives with its value (not smeared into 254.x or dropped to 0)
        assert (t == 255).sum() > 0.5 * (target == 255).sum()
    # control: the check does catch a target rotated by a slightly different angle
    i, _ = A.rotate_pair(image, target, math.radians(30))
    _, t = A.rotate_pair(image, target, math.radians(36))
    assert misalignment(i.numpy(), t.numpy())[0] > 0.5 / 255


def test_reflect_fill_leaves_no_empty_corners():
    rng = np.random.default_rng(1)
    image = (0.2 + 0.8 * rng.random((40, 40, 3))).astype(np.float32)
    target = np.full((40, 40, 1), 2.0, np.float32)
    angle = math.radians(45)
    ri, rt = (x.numpy() for x in A.rotate_pair(image, target, angle, fill_mode="REFLECT"))
    ci, ct = (x.numpy() for x in A.rotate_pair(image, target, angle, fill_mode="CONSTANT"))
    corners = (slice(0, 4), slice(0, 4)), (slice(0, 4), slice(-4, None)), (slice(-4, None), slice(0, 4)), \
        (slice(-4, None), slice(-4, None))
    for ys, xs in corners:
        assert (ci[ys, xs] == 0).all() and (ct[ys, xs] == 0).all()  # what constant fill gives
        assert (ri[ys, xs] >= 0.2 - 1e-6).all() and (rt[ys, xs] == 2).all()
    assert ri.min() >= 0.2 - 1e-6 and (rt == 2).all()
    for _ in range(4):  # random angles, never an empty corner
        i, t = run(image, target, {**OFF, "rotation": 360})
        assert i.min() >= 0.2 - 1e-6 and (t == 2).all()


@pytest.mark.parametrize("key,value", [("brightness", 0.3), ("contrast", 0.6), ("saturation", 0.8), ("gamma", 0.5)])
def test_jitter_changes_image_never_target(key, value):
    image, target = label_pair()
    image[..., 0] = 0.5  # some colour for saturation to act on, whatever the red labels were
    changed = 0
    n = 20 if key == "gamma" else 4  # gamma acts on 3 pairs in 10 (nnU-Net's probability)
    for _ in range(n):
        i, t = run(image, target, {**OFF, key: value})
        assert np.array_equal(t, target)
        assert 0.0 <= i.min() and i.max() <= 1.0
        changed += not np.allclose(i, image, atol=1e-3)
    assert changed >= (2 if key == "gamma" else 3)


def test_graph_mode_random_per_element():
    image, target = label_pair(size=32)
    cfg = {"flips": True, "rot90": True, "rotation": 30, "brightness": 0.1, "contrast": 0.2, "saturation": 0.2}
    c = A.resolve(cfg)
    seeds = tf.data.Dataset.random(seed=3).batch(4).map(lambda s: tf.reshape(s, [2, 2]))
    ds = tf.data.Dataset.zip((tf.data.Dataset.from_tensors((image, target)).repeat(8), seeds))
    ds = ds.map(lambda pair, s: A.rotate_and_jitter(*A.random_dihedral(*pair, A.dihedral_group(c), s[0]), c, s[1]),
                num_parallel_calls=2)
    pairs = [(i.numpy(), t.numpy()) for i, t in ds]
    assert all(i.shape == image.shape and t.shape == target.shape for i, t in pairs)
    assert all(set(np.unique(t)) <= LABELS for _, t in pairs)
    assert len({i.tobytes() for i, _ in pairs}) == 8, "calls repeated their random draws"
    assert len({t.tobytes() for _, t in pairs}) > 1
    # static shapes survive the map (model.fit needs them)
    assert ds.element_spec[0].shape.as_list() == [32, 32, 3]
    assert ds.element_spec[1].shape.as_list() == [32, 32, 1]


def np_dihedral(x, transform):
    transpose, lr, ud = transform
    x = x.transpose(1, 0, 2) if transpose else x
    x = x[:, ::-1] if lr else x
    return x[::-1] if ud else x


@pytest.mark.parametrize("cfg,allowed", [({"flips": True, "rot90": True}, range(8)),
                                         ({"flips": True, "rot90": False}, (0, 1, 4, 5)),
                                         ({"flips": False, "rot90": True}, (0, 2, 4, 6)),
                                         (OFF, (0,))])
def test_dihedral_group_is_the_configured_transforms(cfg, allowed):
    image = np.arange(5 * 5 * 2).reshape(5, 5, 2)
    group = A.dihedral_group(A.resolve(cfg))
    assert group[0] == (False, False, False) and len(set(group)) == len(group) == len(allowed)
    found = sorted(next(k for k, d in enumerate(dihedral(image)) if np.array_equal(d, np_dihedral(image, t)))
                   for t in group)
    assert found == sorted(allowed)
    for t in group:  # the TensorFlow version does the same
        assert np.array_equal(A.apply_dihedral(tf.constant(image), t).numpy(), np_dihedral(image, t))




def test_the_same_seed_gives_the_same_augmentation_and_another_seed_another():
    image, target = label_pair(size=32)
    cfg = {"rotation": 180, "brightness": 0.2, "contrast": 0.2, "saturation": 0.2}
    a = [x.numpy() for x in augment(tf.constant(image), tf.constant(target), cfg, seed=11)]
    b = [x.numpy() for x in augment(tf.constant(image), tf.constant(target), cfg, seed=11)]
    c = [x.numpy() for x in augment(tf.constant(image), tf.constant(target), cfg, seed=12)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])
