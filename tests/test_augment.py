"""snakeseg.augment: geometric ops keep image and label map aligned, labels stay exact, jitter is image-only."""

from __future__ import annotations

import math

import numpy as np
import pytest

from snakeseg import augment as A
from snakeseg.errors import InputError
from snakeseg.tfenv import tf

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


def run(image, target, cfg):
    i, t = A.augment_pair(tf.constant(image), tf.constant(target), cfg)
    return i.numpy(), t.numpy()


def test_resolve_and_describe():
    assert A.resolve(None) == A.DEFAULTS
    assert A.resolve({"rotation": 90})["rotation"] == 90.0
    assert A.describe(None) == "flips, rot90"
    assert A.describe(OFF) == "none"
    assert "rotation +-360" in A.describe({"rotation": 360, "brightness": 0.1})
    assert A.is_identity({**OFF, "rotation": 0}) and not A.is_identity(None)
    assert A.per_pair_ops({"brightness": 0.1}) and A.per_pair_ops({"rotation": 10}) and not A.per_pair_ops(None)
    for bad in ({"flip": True}, {"flips": 1}, {"rotation": -5}, {"contrast": 1.5}, {"brightness": "x"}):
        with pytest.raises(InputError, match="train.augment"):
            A.resolve(bad)


def test_all_off_is_identity():
    image, target = label_pair()
    i, t = run(image, target, {**OFF, "rotation": 0, "brightness": 0, "contrast": 0, "saturation": 0})
    assert np.array_equal(i, image) and np.array_equal(t, target)


def test_flips_rot90_exact_and_aligned():
    image, target = label_pair(size=32)
    images, targets = dihedral(image), dihedral(target)
    seen = set()
    for _ in range(48):
        i, t = run(image, target, {"flips": True, "rot90": True})
        hits = [k for k in range(8) if np.array_equal(i, images[k])]
        assert len(hits) == 1, "image is not a flip/rotation of the input"
        assert np.array_equal(t, targets[hits[0]]), "target got a different transform than the image"
        assert np.array_equal(i[..., 0], t[..., 0] / np.float32(255.0))
        seen.add(hits[0])
    assert len(seen) >= 6, f"only {len(seen)} of the 8 transforms in 48 draws"


@pytest.mark.parametrize("cfg,allowed", [({"flips": True, "rot90": True}, range(8)),
                                         ({"flips": True, "rot90": False}, (0, 1, 4, 5)),
                                         ({"flips": False, "rot90": True}, (0, 2, 4, 6))])
def test_uint8_pairs_get_the_configured_transforms_only(cfg, allowed):
    """The packed uint8 path (cached training pairs): exact, aligned, and only the transforms asked for
    (dihedral() lists rotations k = 0..3, each followed by its left-right mirror)."""
    image, target = label_pair(size=24)
    image8 = np.round(image * 255).astype(np.uint8)
    target8 = target.astype(np.uint8)
    images, targets = dihedral(image8), dihedral(target8)
    c = A.resolve(cfg)
    seen = set()
    for _ in range(40):
        i, t = A.geometric90(tf.constant(image8), tf.constant(target8), c)
        assert i.dtype == tf.uint8 and t.dtype == tf.uint8 and i.shape == image8.shape and t.shape == target8.shape
        hits = [k for k in range(8) if np.array_equal(i.numpy(), images[k])]
        assert len(hits) == 1 and np.array_equal(t.numpy(), targets[hits[0]])
        seen.add(hits[0])
    assert seen <= set(allowed) and len(seen) >= len(allowed) - 1


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
    for _ in range(4):  # through augment_pair: random angles, never an empty corner
        i, t = run(image, target, {**OFF, "rotation": 360})
        assert i.min() >= 0.2 - 1e-6 and (t == 2).all()


@pytest.mark.parametrize("key,value", [("brightness", 0.3), ("contrast", 0.6), ("saturation", 0.8)])
def test_jitter_changes_image_never_target(key, value):
    image, target = label_pair()
    image[..., 0] = 0.5  # some colour for saturation to act on, whatever the red labels were
    changed = 0
    for _ in range(4):
        i, t = run(image, target, {**OFF, key: value})
        assert np.array_equal(t, target)
        assert 0.0 <= i.min() and i.max() <= 1.0
        changed += not np.allclose(i, image, atol=1e-3)
    assert changed >= 3


def test_graph_mode_random_per_element():
    image, target = label_pair(size=32)
    cfg = {"flips": True, "rot90": True, "rotation": 30, "brightness": 0.1, "contrast": 0.2, "saturation": 0.2}
    ds = tf.data.Dataset.from_tensors((image, target)).repeat(8)
    ds = ds.map(lambda i, t: A.augment_pair(i, t, cfg), num_parallel_calls=2)
    pairs = [(i.numpy(), t.numpy()) for i, t in ds]
    assert all(i.shape == image.shape and t.shape == target.shape for i, t in pairs)
    assert all(set(np.unique(t)) <= LABELS for _, t in pairs)
    assert len({i.tobytes() for i, _ in pairs}) == 8, "calls repeated their random draws"
    assert len({t.tobytes() for _, t in pairs}) > 1
    # static shapes survive the map (model.fit needs them)
    assert ds.element_spec[0].shape.as_list() == [32, 32, 3]
    assert ds.element_spec[1].shape.as_list() == [32, 32, 1]


def write_pairs(path, n, rng, size=8):
    """A TFRecord shard of n random (image, label map) pairs, as the data stage writes them."""
    import cv2

    from snakeseg import tfrecord

    sources = []
    with tfrecord.TFRecordWriter(str(path)) as writer:
        for i in range(n):
            image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            labels = rng.integers(0, 3, (size, size), dtype=np.uint8)
            sources.append((image, labels))
            writer.write(tfrecord.encode_example({
                "id": f"i{i}", "image": cv2.imencode(".png", image[..., ::-1])[1].tobytes(),
                "mask": cv2.imencode(".png", labels)[1].tobytes(), "height": size, "width": size,
                "n_instances": 1}))
    return sources


@pytest.mark.parametrize("cache,transposed", [(True, None), (True, False), (False, None)])
def test_training_pipeline_delivers_aligned_flips_and_rotations(tmp_path, cache, transposed):
    """make_dataset as training uses it (pairs in memory with or without transposed copies, or
    decoded at every step): every pair is one of the 8 flips/rotations of a stored pair, image and
    label map the same one, and each epoch delivers every pair once."""
    from snakeseg import training

    sources = write_pairs(tmp_path / "s.tfrec", 3, np.random.default_rng(3))
    ds = training.make_dataset([str(tmp_path / "s.tfrec")], 3, True, {"flips": True, "rot90": True},
                               n_items=3, cache_decoded=cache, store_transposed=transposed)
    seen = set()
    for images, targets in ds.take(12):  # a batch of 3 is one epoch
        found = []
        for image, target in zip(images.numpy(), targets.numpy()):
            assert image.dtype == np.float32 and 0 <= image.min() and image.max() <= 1
            pixels = np.round(image * 255).astype(np.uint8)
            matches = [(s, k) for s, (src, lab) in enumerate(sources) for k, (a, b) in
                       enumerate(zip(dihedral(src), dihedral(lab[..., None])))
                       if np.array_equal(a, pixels) and np.array_equal(b, target.astype(np.uint8))]
            assert matches, "a delivered pair is not a flip/rotation of a stored pair"
            seen.add(matches[0][1])
            found.append(matches[0][0])
        assert sorted(found) == [0, 1, 2]
    assert len(seen) >= 4  # the transforms vary from pair to pair
    # Validation batches (no augmentation), cached or decoded at every step: the stored pairs.
    val = next(iter(training.make_dataset([str(tmp_path / "s.tfrec")], 3, False, cache_decoded=cache)))
    for (image, labels), got_image, got_labels in zip(sources, *val):
        assert np.array_equal(np.round(got_image.numpy() * 255).astype(np.uint8), image)
        assert np.array_equal(got_labels.numpy()[..., 0], labels)


@pytest.mark.parametrize("transposed", [True, False])
def test_pair_store_gives_what_batch_to_float_gives(tmp_path, transposed):
    """PairStore keeps pair i in row i (and its transpose in row n + i); its batches, which read the
    transposed copies instead of transposing, equal batch_to_float of the same pairs exactly."""
    from snakeseg import training

    sources = write_pairs(tmp_path / "s.tfrec", 5, np.random.default_rng(11))
    store = training.PairStore([str(tmp_path / "s.tfrec")], transposed)
    assert store.n == 5 and store.images.shape[0] == (10 if transposed else 5)
    assert store.nbytes == store.images.shape[0] * 8 * 8 * 4
    for i, (image, labels) in enumerate(sources):
        assert np.array_equal(store.images[i].numpy(), image) and np.array_equal(store.labels[i, ..., 0].numpy(), labels)
        if transposed:
            assert np.array_equal(store.images[5 + i].numpy(), image.transpose(1, 0, 2))
            assert np.array_equal(store.labels[5 + i, ..., 0].numpy(), labels.T)
    indices = [4, 0, 3, 1, 2, 2]
    images = tf.constant(np.stack([sources[i][0] for i in indices]))
    labels = tf.constant(np.stack([sources[i][1][..., None] for i in indices]))
    for cfg in ({"flips": True, "rot90": True}, {"flips": False, "rot90": True}, {"flips": True, "rot90": False}):
        group = A.dihedral_group(A.resolve(cfg))
        for offset in range(len(group)):
            got = store.batch_to_float(tf.constant(indices, tf.int64), group, tf.constant(offset))
            want = training.batch_to_float(images, labels, group, tf.constant(offset))
            assert all(np.array_equal(g.numpy(), w.numpy()) for g, w in zip(got, want)), (cfg, offset)
    (tmp_path / "empty.tfrec").write_bytes(b"")
    with pytest.raises(ValueError, match="no examples in .*empty.tfrec"):
        training.PairStore([str(tmp_path / "empty.tfrec")])


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


@pytest.mark.parametrize("jit,n", [(True, 17), (True, 3), (False, 10)])
def test_batch_to_float_gives_each_position_its_transform(jit, n):
    """The batch is cut into 8 runs of consecutive positions (lengths differing by at most one) and
    run j gets group[(j + offset) % 8], image and label map alike, converted as to_float (exactly
    x * float32(1/255)); a batch of 8 holds each flip/rotation once; XLA or not, same values."""
    from snakeseg import training

    rng = np.random.default_rng(7)
    images = rng.integers(0, 256, (n, 6, 6, 3), dtype=np.uint8)
    labels = rng.integers(0, 3, (n, 6, 6, 1), dtype=np.uint8)
    group = A.dihedral_group(A.resolve(None))
    for offset in (0, 3, 7):
        out_images, out_labels = training.batch_to_float(tf.constant(images), tf.constant(labels), group,
                                                         tf.constant(offset), jit=jit)
        assert out_images.dtype == tf.float32 and out_images.shape == (n, 6, 6, 3) and out_labels.shape == (n, 6, 6, 1)
        which = training.position_transforms(n, 8, offset)
        assert len(which) == n and which == sorted(which, key=lambda k: (k - offset) % 8)  # runs, in order
        runs = [which.count((j + offset) % 8) for j in range(8)]
        assert max(runs) - min(runs) <= 1 and runs == sorted(runs, reverse=True)
        used = set()
        for b in range(n):
            t = group[which[b]]
            used.add(t)
            assert np.array_equal(out_images[b].numpy(), np_dihedral(images[b], t).astype(np.float32) * np.float32(1 / 255))
            assert np.array_equal(out_labels[b].numpy(), np_dihedral(labels[b], t).astype(np.float32))
        assert len(used) == min(n, 8)
    # without transforms: conversion only, any batch size
    plain = training.batch_to_float(tf.constant(images[:3]), tf.constant(labels[:3]), jit=jit)
    assert np.array_equal(plain[0].numpy(), images[:3].astype(np.float32) * np.float32(1 / 255))
    # transforms need the batch size when the function is traced
    unknown = tf.TensorSpec([None, 6, 6, 3], tf.uint8), tf.TensorSpec([None, 6, 6, 1], tf.uint8)
    with pytest.raises(ValueError, match="drop_remainder"):
        tf.function(lambda i, t: training.batch_to_float(i, t, group, 0, jit=jit)).get_concrete_function(*unknown)


def test_training_pipeline_with_rotation_and_jitter(tmp_path):
    """Arbitrary-angle rotation and colour jitter run pair by pair after the batch transform: batches
    keep their size and static shapes, labels stay label values."""
    import cv2

    from snakeseg import tfrecord, training

    rng = np.random.default_rng(4)
    with tfrecord.TFRecordWriter(str(tmp_path / "s.tfrec")) as writer:
        for i in range(5):
            writer.write(tfrecord.encode_example({
                "id": f"i{i}", "image": cv2.imencode(".png", rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))[1].tobytes(),
                "mask": cv2.imencode(".png", rng.integers(0, 2, (16, 16), dtype=np.uint8))[1].tobytes(),
                "height": 16, "width": 16, "n_instances": 1}))
    ds = training.make_dataset([str(tmp_path / "s.tfrec")], 4, True, {"rotation": 45, "brightness": 0.2},
                               n_items=5)
    assert ds.element_spec[0].shape[0] == 4 and ds.element_spec[1].shape[0] == 4
    for images, targets in ds.take(3):
        assert images.shape == (4, 16, 16, 3) and targets.shape == (4, 16, 16, 1)
        assert set(np.unique(targets.numpy())) <= {0.0, 1.0}
        assert 0 <= images.numpy().min() and images.numpy().max() <= 1


def test_input_jit_probe_runs_eagerly():
    """The XLA probe asked for the first time while a map function is traced runs eagerly, once: it
    must not leave a data set and an iterator inside the traced function (every batch would pay)."""
    from snakeseg import training

    training.input_jit.cache_clear()
    traced = tf.function(lambda i, t: training.batch_to_float(i, t)).get_concrete_function(
        tf.TensorSpec([2, 4, 4, 3], tf.uint8), tf.TensorSpec([2, 4, 4, 1], tf.uint8))
    op_types = {op.type for op in traced.graph.get_operations()}
    assert not [t for t in op_types if "Iterator" in t or "Dataset" in t], op_types
    assert training.input_jit.cache_info().currsize == 1  # the probe ran, and its answer is kept
