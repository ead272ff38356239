"""Native-resolution training and prediction: normalisation, patch sampling, tiles, whole-image and
sliding-window prediction agreeing."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from snakeseg.data import normalize as N
from snakeseg.data import records, tfrecord
from snakeseg.data.masks import IGNORE
from snakeseg.inference.predictor import Predictor
from snakeseg.tfenv import tf
from snakeseg.training import augment as A
from snakeseg.training import patches
from snakeseg.training.pipeline import VAL_PATCHES_PER_IMAGE, make_dataset
from snakeseg.training.recipe import auto_patch_size, side_multiple

RNG = np.random.default_rng(13)


@pytest.mark.parametrize("mode", N.MODES)
def test_numpy_and_tensorflow_normalise_alike(mode):
    image = RNG.integers(20, 200, (37, 53, 3), dtype=np.uint8)
    expected = N.normalize(image, mode)
    stats = patches.intensity_stats(tf.constant(image), mode)
    got = patches.apply_stats(tf.cast(image, tf.float32) * (1 / 255), stats, mode).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)
    if mode == "zscore":
        assert abs(expected.mean()) < 1e-4 and abs(expected.std() - 1) < 1e-3
    if mode == "percentile":
        assert expected.min() == 0 and expected.max() == 1


def test_percentile_ignores_the_brightest_half_percent():
    image = np.full((100, 100, 3), 50, np.uint8)
    image[:2, :, :] = 255  # 2% saturated pixels: the 99.5th percentile is 255
    image[:1, :, :] = 255
    dim = np.full((100, 100, 3), 50, np.uint8)
    dim.reshape(-1)[:100] = 255  # 0.33%: below the percentile, clipped away
    offset, scale = N.intensity_stats(dim, "percentile")
    assert offset == 50 / 255 and N.normalize(dim, "percentile").max() == 1


def brightfield(h=48, w=64, colour=False):
    """Dark nuclei on a bright grey background; ``colour``: the same with a pink tint (H&E-like)."""
    image = RNG.integers(200, 230, (h, w, 1), dtype=np.uint8).repeat(3, axis=-1)
    image[10:20, 10:20] = 60
    if colour:
        image[..., 1] = image[..., 1] // 2
    return image


@pytest.mark.parametrize("mode", N.MODES)
def test_bright_grey_images_are_seen_inverted(mode):
    image = brightfield()
    got = N.normalize(image, mode, "auto")
    np.testing.assert_allclose(got, N.normalize(255 - image, mode), atol=1e-5)
    assert got[15, 15].mean() > got[40, 50].mean()  # the nucleus is brighter than the background
    np.testing.assert_array_equal(N.normalize(image, mode, "keep"), N.normalize(image, mode))
    stats = patches.intensity_stats(tf.constant(image), mode, "auto")
    tf_input = patches.apply_stats(tf.cast(image, tf.float32) * (1 / 255), stats, mode).numpy()
    np.testing.assert_allclose(tf_input, got, atol=1e-5)


@pytest.mark.parametrize("image", [brightfield(colour=True), 255 - brightfield()], ids=["colour", "dark-grey"])
def test_colour_and_dark_images_keep_their_polarity(image):
    assert not N.bright_grey(image) and not bool(patches.bright_grey(tf.constant(image)))
    np.testing.assert_array_equal(N.normalize(image, "zscore", "auto"), N.normalize(image, "zscore"))


def one_nucleus(h=200, w=300, at=(150, 250), r=3):
    image = RNG.integers(0, 60, (h, w, 3), dtype=np.uint8)
    labels = np.zeros((h, w, 1), np.uint8)
    cv2.circle(labels, at[::-1], r, 1, -1)
    image[labels[..., 0] > 0] = 220
    return image, labels


@pytest.mark.parametrize("fraction", [0.0, 1 / 3, 1.0])
def test_a_share_of_patches_is_placed_on_foreground(fraction):
    image, labels = one_nucleus()
    hits = 0
    n = 300
    for i in range(n):
        img, lab = patches.sample_patch(tf.constant(image), tf.constant(labels), 64, fraction, tf.constant([i, 7]))
        assert img.shape == (64, 64, 3) and lab.shape == (64, 64, 1)
        hits += int(lab.numpy().max() == 1)
    # Anywhere, a 64-px patch holds the nucleus near the corner with chance about 0.06.
    share = hits / n
    assert fraction <= share <= fraction + 0.15 if fraction < 1 else share == 1


def test_patches_of_small_images_are_padded_reflecting_the_image_and_ignored_in_the_mask():
    image = RNG.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    labels = np.ones((40, 50, 1), np.uint8)
    img, lab = patches.sample_patch(tf.constant(image), tf.constant(labels), 64, 0.0, tf.constant([1, 2]))
    img, lab = img.numpy(), lab.numpy()
    np.testing.assert_array_equal(img[:40, :50], image)
    np.testing.assert_array_equal(img[40:48, :50], image[38:30:-1])  # reflected rows
    assert (lab[:40, :50] == 1).all() and (lab[40:] == IGNORE).all() and (lab[:, 50:] == IGNORE).all()


@pytest.mark.parametrize("zoom", [0.7, 1.0, 1.4])
def test_zoomed_patches_are_cut_from_a_region_patch_over_zoom_wide_and_keep_labels_exact(zoom):
    crop = round(64 / zoom)  # an image exactly that wide: the whole of it becomes the patch
    image = np.zeros((crop, crop, 3), np.uint8)
    labels = np.zeros((crop, crop, 1), np.uint8)
    q = crop // 4
    image[q:3 * q, q:3 * q], labels[q:3 * q, q:3 * q] = 200, 1  # a square half the image wide
    labels[:2, :2] = IGNORE
    img, lab = patches.sample_patch(tf.constant(image), tf.constant(labels), 64, 0.5, tf.constant([3, 4]),
                                    tf.constant(zoom))
    img, lab = img.numpy(), lab.numpy()
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8 and lab.shape == (64, 64, 1)
    assert set(np.unique(lab)) <= {0, 1, IGNORE}
    assert abs(np.sqrt((lab == 1).sum()) - 64 * (2 * q) / crop) <= 1.5  # the square, zoomed by 64 / crop
    assert ((img[..., 0] > 100) == (lab[..., 0] == 1)).mean() > 0.97  # image and labels stay aligned


def test_scale_augmentation_zooms_a_fifth_of_the_patches_within_its_range():
    cfg = A.resolve({"scale": 0.4})
    zooms = np.array([float(A.random_zoom(cfg, tf.constant([k, 5], tf.int64))) for k in range(500)])
    zoomed = zooms[zooms != 1]
    assert 0.14 <= len(zoomed) / len(zooms) <= 0.26
    assert zoomed.min() >= 1 / 1.4 - 1e-6 and zoomed.max() <= 1.4 + 1e-6
    assert (zoomed < 1).sum() > 10 and (zoomed > 1).sum() > 10


def write_shard(path, pairs):
    with tfrecord.TFRecordWriter(str(path)) as writer:
        for i, (image, labels) in enumerate(pairs):
            writer.write(tfrecord.encode_example({
                "id": f"i{i}", "image": cv2.imencode(".png", image[..., ::-1])[1].tobytes(),
                "mask": cv2.imencode(".png", labels)[1].tobytes(), "height": image.shape[0],
                "width": image.shape[1], "n_instances": 1}))


def test_native_datasets_give_patches_for_training_and_a_fixed_set_for_validation(tmp_path):
    pairs = [one_nucleus(200, 300), one_nucleus(96, 96, at=(40, 40))]
    write_shard(tmp_path / "s.tfrec", pairs)
    recipe = {"mode": "native", "patch_size": 64, "foreground_fraction": 1.0, "normalize": "zscore"}
    train = make_dataset([str(tmp_path / "s.tfrec")], 4, True, None, 2, 0, recipe=recipe)
    images, targets = next(iter(train))
    assert images.shape == (4, 64, 64, 3) and targets.shape == (4, 64, 64, 1)
    assert all(t.numpy().max() == 1 for t in targets)  # every patch on the nucleus
    val = list(make_dataset([str(tmp_path / "s.tfrec")], 4, False, recipe=recipe).unbatch())
    assert len(val) == 2 * VAL_PATCHES_PER_IMAGE and all(v[0].shape == (64, 64, 3) for v in val)
    assert all(v[1].numpy().max() == 1 for v in val)  # placed as training places them
    again = list(make_dataset([str(tmp_path / "s.tfrec")], 4, False, recipe=recipe).unbatch())
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(val, again))  # the same set every epoch


def test_degradations_change_some_images_never_the_targets_or_the_other_draws(tmp_path):
    write_shard(tmp_path / "s.tfrec", [one_nucleus(200, 300), one_nucleus(96, 96, at=(40, 40))])
    recipe = {"mode": "native", "patch_size": 64, "foreground_fraction": 0.5, "normalize": "zscore"}
    plain = {"scale": 0.4, "gamma": 0.5}
    batches = {name: list(make_dataset([str(tmp_path / "s.tfrec")], 4, True, augment, 2, 0, recipe=recipe).take(10))
               for name, augment in (("plain", plain),
                                     ("degraded", {**plain, "noise": 0.5, "blur": 1.0, "low_resolution": 0.5}))}
    changed = 0
    for (image, target), (degraded, same_target) in zip(batches["plain"], batches["degraded"]):
        assert np.array_equal(target, same_target)  # same patches, flips, zooms: only the image degraded
        changed += sum(not np.allclose(a, b, atol=1e-4) for a, b in zip(image.numpy(), degraded.numpy()))
    assert 5 <= changed < 35  # of 40 patches: each degradation acts on 10-25% of them


@pytest.mark.parametrize("cache", [True, False])
def test_large_images_give_more_patches_per_epoch(tmp_path, cache):
    big = (np.full((512, 512, 3), 200, np.uint8), np.ones((512, 512, 1), np.uint8))  # 64 patch areas: 4 draws
    small = (np.full((64, 64, 3), 50, np.uint8), np.zeros((64, 64, 1), np.uint8))  # one
    write_shard(tmp_path / "s.tfrec", [big, small])
    recipe = {"mode": "native", "patch_size": 64, "foreground_fraction": 0.0, "normalize": "none"}
    assert patches.epoch_draws(recipe, [[512, 512], [64, 64]]) == 5
    assert patches.epoch_draws({"mode": "resize"}, [[512, 512], [64, 64]]) == 2
    train = make_dataset([str(tmp_path / "s.tfrec")], 5, True, None, 5, 0, cache_decoded=cache, recipe=recipe)
    from_big = [float(t.numpy().mean()) for _, targets in train.take(40) for t in targets]
    assert 0.7 < np.mean(from_big) < 0.9  # 4 of every 5 samples


def test_draws_per_image_are_capped():
    assert int(patches.draws_per_image(20000, 20000, 128)) == patches.MAX_DRAWS
    assert int(patches.draws_per_image(10, 10, 128)) == 1


def test_resize_recipe_squeezes_whole_images(tmp_path):
    write_shard(tmp_path / "s.tfrec", [one_nucleus(200, 300), one_nucleus(96, 96, at=(40, 40))])
    recipe = {"mode": "resize", "image_size": 64, "normalize": "none"}
    images, targets = next(iter(make_dataset([str(tmp_path / "s.tfrec")], 2, False, recipe=recipe)))
    assert images.shape == (2, 64, 64, 3) and set(np.unique(targets)) == {0, 1}


def test_auto_patch_size_follows_the_median_shorter_side():
    assert auto_patch_size([[256, 256]] * 3 + [[1040, 1388]], "gpu") == 256
    assert auto_patch_size([[256, 256]] * 3 + [[1040, 1388]], "cpu") == 128
    assert auto_patch_size([[96, 96], [112, 160], [100, 160]]) == 96
    assert auto_patch_size([[40, 40]]) == 64 and auto_patch_size([[5000, 5000]], "gpu") == 512
    # PSPNet's pooling wants a multiple of 48: auto picks one, for every architecture to train with auto
    assert auto_patch_size([[256, 256]] * 3, "cpu", 48) == 96 and auto_patch_size([[40, 40]], "cpu", 48) == 96
    assert auto_patch_size([[5000, 5000]], "gpu", 48) == 480 and auto_patch_size([[200, 200]], "gpu", 48) == 192
    assert side_multiple({"arch": "PSPNet"}) == 48 and side_multiple({"arch": "Unet"}) == 32


def test_large_images_are_tiled_into_their_shard_and_rescaled(tmp_path):
    from snakeseg.data.imageio import encode_png
    from snakeseg.data.staging import Pack  # noqa: F401  (the pack format make_shard reads)

    merged, raw = tmp_path / "merged", tmp_path / "raw"
    merged.mkdir()
    raw.mkdir()
    big = RNG.integers(0, 256, (300, 500, 3), dtype=np.uint8)
    small = RNG.integers(0, 256, (64, 80, 3), dtype=np.uint8)
    blobs, items = b"", []
    for name, image in (("big", big), ("small", small)):
        data = encode_png(image)
        items.append({"id": name, "source": f"{name}.png", "image_at": [len(blobs), len(data)],
                      "height": image.shape[0], "width": image.shape[1], "n_instances": 1})
        blobs += data
        (merged / f"{name}.png").write_bytes(encode_png(np.zeros(image.shape[:2], np.uint8), rgb=False))
    (raw / "members.bin").write_bytes(blobs)
    (raw / "manifest.json").write_text(json.dumps({"shard": "0000", "items": {}, "set_aside": {}}))
    (merged / "index.json").write_text(json.dumps({"shard": "0000", "items": items, "set_aside": []}))
    out = records.make_shard(str(merged), str(raw), str(tmp_path / "s.tfrec"), str(tmp_path / "s.json"),
                             scale=1.0, max_tile=256)
    # The fewest equal tiles of at most 256 whose neighbours overlap by 32 (1/8 of 256)
    assert out["ids"] == [f"big@{y},{x}" for y in (0, 134) for x in (0, 156, 312)] + ["small"]
    assert out["sizes"] == [[166, 188]] * 6 + [[64, 80]] and out["images"] == 2
    stored = [tfrecord_image(r) for r in tf.data.TFRecordDataset(str(tmp_path / "s.tfrec"))]
    np.testing.assert_array_equal(stored[5], big[134:300, 312:500])
    assert records.tile_starts(2600, 2048) == ([0, 1172], 1428)  # 256 px shared, not 1,496
    assert records.tile_starts(2048, 2048) == ([0], 2048)
    half = records.make_shard(str(merged), str(raw), str(tmp_path / "h.tfrec"), str(tmp_path / "h.json"),
                              scale=0.5, max_tile=2048)
    assert half["sizes"] == [[150, 250], [32, 40]]


def tfrecord_image(record):
    from snakeseg.training.pipeline import decode_record

    return decode_record(record)[0].numpy()


def brightness(x):
    return x.mean(axis=-1, keepdims=True)


def test_whole_image_and_sliding_window_prediction_agree_for_a_pointwise_model():
    image = RNG.integers(0, 256, (150, 230, 3), dtype=np.uint8)
    whole = Predictor([brightness], {"mode": "native", "patch_size": 64, "normalize": "zscore"})
    windowed = Predictor([brightness], {"mode": "native", "patch_size": 64, "normalize": "zscore", "max_side": 100})
    a, b = whole.probabilities([image])[0], windowed.probabilities([image])[0]
    np.testing.assert_allclose(a, b, atol=1e-4)
    np.testing.assert_allclose(a[..., 0], N.normalize(image, "zscore").mean(-1), atol=1e-4)
    # Labels of a windowed image come strip by strip and equal the thresholded probabilities.
    np.testing.assert_array_equal(windowed.labels([image], 0.1)[0], (b[..., 0] >= 0.1).astype(np.uint8))
