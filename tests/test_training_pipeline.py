"""snakeseg.training.pipeline: training pairs are aligned flips/rotations of stored pairs, validation is plain."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from snakeseg.data import tfrecord
from snakeseg.tfenv import keras, tf
from snakeseg.training import augment as A
from snakeseg.training.pipeline import fits_cache, make_dataset, pairs_bytes, parse_record


def write_pairs(path, n, rng, size=8, n_labels=3):
    """A TFRecord shard of n random (image RGB uint8, label map uint8) pairs with the data stage's features."""
    pairs = []
    with tfrecord.TFRecordWriter(str(path)) as writer:
        for i in range(n):
            image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            labels = rng.integers(0, n_labels, (size, size), dtype=np.uint8)
            pairs.append((image, labels))
            writer.write(tfrecord.encode_example({
                "id": f"i{i}", "image": cv2.imencode(".png", image[..., ::-1])[1].tobytes(),
                "mask": cv2.imencode(".png", labels)[1].tobytes(), "height": size, "width": size,
                "n_instances": 1}))
    return pairs


def np_dihedral(x, transform):
    """NumPy version of augment.apply_dihedral: transpose, then flip left-right, then up-down."""
    transpose, lr, ud = transform
    x = x.transpose(1, 0, 2) if transpose else x
    x = x[:, ::-1] if lr else x
    return x[::-1] if ud else x


GROUP = A.dihedral_group(A.resolve(None))  # the default: all 8 flips/rotations


def candidates(pairs):
    """{(image bytes, label bytes) as make_dataset delivers them: (stored pair, transform)} for every
    stored pair and each of the 8 transforms; image as x * float32(1/255), labels as float32."""
    out = {}
    for s, (image, labels) in enumerate(pairs):
        for k, t in enumerate(GROUP):
            img = (np_dihedral(image, t).astype(np.float32) * np.float32(1 / 255)).tobytes()
            lab = np_dihedral(labels[..., None], t).astype(np.float32).tobytes()
            out.setdefault((img, lab), (s, k))
    return out


def delivered(ds, n_batches):
    """The (image bytes, label bytes) of every pair in the first n_batches batches, batch by batch."""
    return [[(i.tobytes(), t.tobytes()) for i, t in zip(images.numpy(), targets.numpy())]
            for images, targets in ds.take(n_batches)]


@pytest.mark.parametrize("cache", [True, False])
def test_training_pairs_are_aligned_flips_and_rotations_each_epoch_a_permutation(tmp_path, cache):
    """Every delivered pair is one of the 8 flips/rotations of a stored pair, image and label map moved
    together and converted exactly (x * float32(1/255)); each epoch (one batch of n here) delivers
    every stored pair once; batches keep their size."""
    keras.utils.set_random_seed(1)
    pairs = write_pairs(tmp_path / "s.tfrec", 4, np.random.default_rng(3))
    known = candidates(pairs)
    assert len(known) == 4 * 8  # random pixels: the 32 candidates are distinct
    ds = make_dataset([str(tmp_path / "s.tfrec")], 4, True, None, n_items=4, cache_decoded=cache)
    assert ds.element_spec[0].shape[0] == 4 and ds.element_spec[1].shape[0] == 4
    for batch in delivered(ds, 10):
        hits = [known.get(pair) for pair in batch]
        assert None not in hits, "a delivered pair is not an aligned flip/rotation of a stored pair"
        assert sorted(s for s, _ in hits) == [0, 1, 2, 3]


def test_every_transform_appears_uniformly_and_independently_of_the_pair(tmp_path):
    """Over many draws each of the 8 transforms appears, in about equal shares, and not one transform
    per pair or per batch: pairs of the same batch get different ones."""
    keras.utils.set_random_seed(2)
    pairs = write_pairs(tmp_path / "s.tfrec", 6, np.random.default_rng(5))
    known = candidates(pairs)
    ds = make_dataset([str(tmp_path / "s.tfrec")], 6, True, {"flips": True, "rot90": True}, n_items=6)
    counts = np.zeros((6, 8), int)
    mixed_batches = 0
    for batch in delivered(ds, 40):
        hits = [known[pair] for pair in batch]
        for s, k in hits:
            counts[s, k] += 1
        mixed_batches += len({k for _, k in hits}) > 1
    assert (counts.sum(0) > 0).all(), f"transforms never drawn: {np.flatnonzero(counts.sum(0) == 0)}"
    expected = 240 / 8
    assert (np.abs(counts.sum(0) - expected) < 3.5 * math.sqrt(expected)).all(), counts.sum(0)
    assert ((counts > 0).sum(1) >= 4).all(), "some pair keeps getting the same few transforms"
    assert mixed_batches == 40


@pytest.mark.parametrize("cfg,allowed", [({"flips": True, "rot90": False}, (0, 1, 2, 3)),
                                         ({"flips": False, "rot90": True}, (0, 3, 5, 6)),
                                         ({"flips": False, "rot90": False}, (0,))])
def test_training_pipeline_gives_only_the_configured_transforms(tmp_path, cfg, allowed):
    """Indices into GROUP (transpose, lr, ud): flips alone are 0-3, rotations by k x 90 degrees are
    identity, (T, lr), (T, ud) and (lr, ud) flips; all off leaves the pairs as stored."""
    keras.utils.set_random_seed(3)
    pairs = write_pairs(tmp_path / "s.tfrec", 3, np.random.default_rng(6))
    known = candidates(pairs)
    ds = make_dataset([str(tmp_path / "s.tfrec")], 3, True, cfg, n_items=3)
    seen = {known[pair][1] for batch in delivered(ds, 30) for pair in batch}
    assert seen == set(allowed)


def test_cached_and_uncached_pipelines_give_pairs_from_the_same_set(tmp_path):
    """Decoded pairs kept in memory or decoded at every step: the same 3 x 8 candidates, all of them."""
    keras.utils.set_random_seed(4)
    files = [str(tmp_path / "a.tfrec"), str(tmp_path / "b.tfrec")]
    rng = np.random.default_rng(8)
    pairs = write_pairs(files[0], 2, rng) + write_pairs(files[1], 1, rng)
    known = candidates(pairs)
    got = {}
    for cache in (True, False):
        ds = make_dataset(files, 3, True, None, n_items=3, cache_decoded=cache)
        got[cache] = {pair for batch in delivered(ds, 100) for pair in batch}
    assert got[True] <= set(known) and got[False] <= set(known)
    assert got[True] == got[False] == set(known)


@pytest.mark.parametrize("cache", [True, False])
def test_validation_batches_are_unaugmented_and_in_order(tmp_path, cache):
    """Validation: the stored pairs in file order, converted only, the last batch short; every pass the same."""
    files = [str(tmp_path / "a.tfrec"), str(tmp_path / "b.tfrec")]
    rng = np.random.default_rng(9)
    pairs = write_pairs(files[0], 3, rng) + write_pairs(files[1], 2, rng)
    ds = make_dataset(files, 2, False, cache_decoded=cache)
    for _ in range(2):
        batches = list(ds)
        assert [int(b[0].shape[0]) for b in batches] == [2, 2, 1]
        images = np.concatenate([b[0].numpy() for b in batches])
        labels = np.concatenate([b[1].numpy() for b in batches])
        assert images.dtype == np.float32 and labels.dtype == np.float32
        for (image, label_map), got_image, got_labels in zip(pairs, images, labels):
            assert np.array_equal(got_image, image.astype(np.float32) * np.float32(1 / 255))
            assert np.array_equal(got_labels[..., 0], label_map.astype(np.float32))
    # parse_record (prediction, evaluation) gives the same values as the validation batches
    first = next(iter(tf.data.TFRecordDataset(files[:1]).map(parse_record)))
    assert np.array_equal(first[0].numpy(), images[0]) and np.array_equal(first[1].numpy(), labels[0])


def test_training_pipeline_with_rotation_and_jitter(tmp_path):
    """Arbitrary-angle rotation and colour jitter after the flip/rotation: batches keep their size,
    labels stay label values, images stay in [0, 1] and differ from every plain flip/rotation."""
    keras.utils.set_random_seed(5)
    pairs = write_pairs(tmp_path / "s.tfrec", 5, np.random.default_rng(4), size=16, n_labels=2)
    known = candidates(pairs)
    ds = make_dataset([str(tmp_path / "s.tfrec")], 4, True, {"rotation": 45, "brightness": 0.2}, n_items=5)
    assert ds.element_spec[0].shape[0] == 4 and ds.element_spec[1].shape[0] == 4
    for images, targets in ds.take(3):
        assert images.shape == (4, 16, 16, 3) and targets.shape == (4, 16, 16, 1)
        assert set(np.unique(targets.numpy())) <= {0.0, 1.0}
        assert 0 <= images.numpy().min() and images.numpy().max() <= 1
        assert not any((i.tobytes(), t.tobytes()) in known for i, t in zip(images.numpy(), targets.numpy()))


def test_fits_cache_counts_four_bytes_a_pixel():
    pixels = 100 * 256 * 256
    assert pairs_bytes(pixels) == pixels * 4
    mb = pairs_bytes(pixels) / 1e6
    assert fits_cache(pixels, mb) and not fits_cache(pixels, mb - 0.01) and fits_cache(0, 0)
