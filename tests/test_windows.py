"""Full-resolution prediction: sliding windows, Gaussian stitching, TTA and ensembles (NumPy models)."""
import numpy as np
import pytest

from snakeseg.inference import windows


def constant(value):
    return lambda x: np.full(x.shape[:3] + (1,), value, np.float32)


def brightness(x):
    """A pointwise model: the probability is the pixel's mean channel value."""
    return x.mean(axis=-1, keepdims=True)


def position_dependent(x):
    """A model that sees where it is inside its window (like a real network's border effects)."""
    h, w = x.shape[1:3]
    ramp = np.linspace(0, 1, w, dtype=np.float32)[None, None, :, None]
    return x.mean(axis=-1, keepdims=True) * 0.5 + ramp * 0.5


@pytest.mark.parametrize("window", [None, 160])
@pytest.mark.parametrize("shape", [(300, 410), (64, 64), (40, 700), (513, 257)])
def test_a_constant_model_gives_a_constant_map_without_seams(shape, window):
    image = np.random.default_rng(0).random(shape + (3,), np.float32)
    probs = windows.predict_tiled(constant(0.37), image, patch=64, overlap=0.5, batch_size=3, window=window)
    assert probs.shape == shape + (1,)
    np.testing.assert_allclose(probs, 0.37, rtol=1e-6)


def test_a_pointwise_model_gives_the_same_map_tiled_and_whole():
    image = np.random.default_rng(1).random((200, 333, 3), np.float32)
    tiled = windows.predict_tiled(brightness, image, patch=64, overlap=0.5)
    whole = windows.predict_whole(brightness, image, stride=32)
    np.testing.assert_allclose(tiled, brightness(image[None])[0], atol=1e-5)
    np.testing.assert_allclose(whole, tiled, atol=1e-5)


def test_strips_cover_every_row_once_in_order():
    image = np.random.default_rng(2).random((500, 90, 3), np.float32)
    strips = list(windows.predict_strips(position_dependent, image, patch=64, overlap=0.5))
    rows = [r for r, _ in strips]
    assert rows == sorted(rows) and rows[0] == 0
    assert sum(p.shape[0] for _, p in strips) == 500
    assert all(r + p.shape[0] == nxt for (r, p), (nxt, _) in zip(strips, strips[1:]))
    assert max(p.shape[0] for _, p in strips) < 500  # the map is never held whole
    np.testing.assert_allclose(np.concatenate([p for _, p in strips]),
                               windows.predict_tiled(position_dependent, image, patch=64, overlap=0.5))


def test_gaussian_weighting_favours_window_centres():
    w = windows.gaussian_weights(64)
    assert w.shape == (64, 64) and w.max() == pytest.approx(1.0) and w.min() > 0
    assert w[32, 32] > w[32, 8] > w[32, 0] and np.allclose(w, w.T) and np.allclose(w, w[::-1, ::-1])


def test_window_starts_cover_the_length_with_the_asked_overlap():
    starts = windows.window_starts(300, 64, windows.window_step(64, 0.5))
    assert starts[0] == 0 and starts[-1] == 300 - 64
    assert all(0 < b - a <= 32 for a, b in zip(starts, starts[1:]))
    assert windows.window_starts(64, 64, 32) == [0] and windows.window_starts(10, 64, 32) == [0]


def test_windows_larger_than_the_patch_overlap_by_the_patch_fraction_and_weight_only_their_edges():
    starts = windows.window_starts(2000, 512, windows.window_step(128, 0.5, 512))
    assert starts[-1] == 2000 - 512 and len(starts) == 5 and all(b - a <= 448 for a, b in zip(starts, starts[1:]))
    big, small = windows.gaussian_weights(128, window=512), windows.gaussian_weights(128)
    assert big.shape == (512, 512) and np.all(big[64:448, 64:448] == 1)  # the middle counts fully
    np.testing.assert_allclose(big[:64, :64], small[:64, :64])  # each edge as the patch's Gaussian
    np.testing.assert_allclose(windows.gaussian_weights(128, window=128), small)


def border_effects(x):
    """A model that is wrong near its input's edges (a network's zero padding), right inside."""
    h, w = x.shape[1:3]
    edge = np.minimum.outer(np.minimum(np.arange(h), np.arange(h)[::-1]), np.minimum(np.arange(w), np.arange(w)[::-1]))
    return x.mean(axis=-1, keepdims=True) * (1 - np.exp(-edge / 4))[None, :, :, None].astype(np.float32)


def test_large_windows_match_the_whole_image_pass_better_than_patch_windows():
    image = np.random.default_rng(5).random((300, 700, 3), np.float32)
    inside = (slice(16, -16), slice(16, -16))  # away from the image's own edges
    whole = windows.predict_whole(border_effects, image, stride=1)[inside]
    def error(window):
        return np.abs(windows.predict_tiled(border_effects, image, patch=64, window=window)[inside] - whole).mean()
    assert error(256) < error(None) / 2


@pytest.mark.parametrize("mode", ["flips", "d4"])
def test_tta_leaves_an_equivariant_model_unchanged_and_changes_one_that_is_not(mode):
    x = np.random.default_rng(3).random((2, 48, 48, 3), np.float32)
    np.testing.assert_allclose(windows.with_tta(brightness, mode)(x), brightness(x), atol=1e-6)
    assert not np.allclose(windows.with_tta(position_dependent, mode)(x), position_dependent(x))
    np.testing.assert_allclose(windows.with_tta(position_dependent, "none")(x), position_dependent(x))


def test_tta_averages_the_transformed_predictions():
    x = np.random.default_rng(4).random((1, 32, 32, 3), np.float32)
    want = (position_dependent(x) + position_dependent(x[:, :, ::-1])[:, :, ::-1]
            + position_dependent(x[:, ::-1, ::-1])[:, ::-1, ::-1]
            + position_dependent(x[:, ::-1])[:, ::-1]) / 4
    np.testing.assert_allclose(windows.with_tta(position_dependent, "flips")(x), want, atol=1e-6)


def test_an_ensemble_is_the_mean_of_its_models():
    x = np.zeros((1, 16, 16, 3), np.float32)
    np.testing.assert_allclose(windows.ensemble([constant(0.2), constant(0.6), constant(1.0)])(x), 0.6, rtol=1e-6)
    with pytest.raises(ValueError):
        windows.ensemble([])


def test_images_smaller_than_a_window_are_padded_and_cropped_back():
    image = np.random.default_rng(5).random((20, 30, 3), np.float32)
    probs = windows.predict_tiled(brightness, image, patch=64)
    assert probs.shape == (20, 30, 1)
    np.testing.assert_allclose(probs, brightness(image[None])[0], atol=1e-5)


def test_the_predictor_gives_probabilities_at_each_images_own_size():
    from snakeseg.inference.predictor import Predictor

    rng = np.random.default_rng(6)
    images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in ((50, 70), (128, 128), (300, 90))]
    for recipe in ({"mode": "resize", "image_size": 64}, {"mode": "native", "patch_size": 64, "max_side": 200},
                   {"mode": "native", "patch_size": 64, "scale": 0.5}):
        predictor = Predictor([constant(0.25), constant(0.75)], recipe, tta="flips", batch_size=2)
        probs = predictor.probabilities(images)
        assert [p.shape for p in probs] == [(50, 70, 1), (128, 128, 1), (300, 90, 1)]
        assert all(np.allclose(p, 0.5) for p in probs)
        assert [lab.max() for lab in predictor.labels(images, 0.4)] == [1, 1, 1]
        assert [lab.max() for lab in predictor.labels(images, 0.6)] == [0, 0, 0]


def test_the_predictor_sends_windows_of_predict_window_and_the_patch_to_fixed_size_networks():
    from snakeseg.inference.predictor import Predictor

    seen = []
    def recording(x):
        seen.append(x.shape[1:3])
        return brightness(x)
    image = np.random.default_rng(7).integers(0, 256, (700, 300, 3), dtype=np.uint8)
    recipe = {"mode": "native", "patch_size": 64, "max_side": 200}
    expected = Predictor([brightness], recipe).probabilities([image])[0]
    for window, whole_images, sides in ((256, True, {(256, 256)}), ("patch", True, {(64, 64)}),
                                        (256, False, {(64, 64)}), (1024, True, {(704, 320)})):
        seen.clear()
        probs = Predictor([recording], {**recipe, "window": window}, whole_images=whole_images).probabilities([image])[0]
        assert set(seen) == sides, window
        np.testing.assert_allclose(probs, expected, atol=1e-4)


def test_a_rescaled_windowed_image_is_labelled_band_by_band_as_when_resized_whole(monkeypatch):
    from snakeseg.inference import predictor as P

    image = np.random.default_rng(8).integers(0, 256, (2300, 230, 3), dtype=np.uint8)
    predictor = P.Predictor([brightness], {"mode": "native", "patch_size": 64, "max_side": 100, "scale": 0.5})
    whole = predictor.probabilities([image])[0]  # the float map at full size, resized in one piece
    bands = []
    resize_rows = P.resize_rows
    monkeypatch.setattr(P, "resize_rows", lambda *a: bands.append(a[3] - a[2]) or resize_rows(*a))
    labels, fg = predictor.segment([image], 0.5)[0]
    assert max(bands) == 1024 and sum(bands) == 2300  # never the whole full-size map at once
    np.testing.assert_allclose(fg, np.round(whole[..., 0] * 255), atol=1)
    assert (labels != (whole[..., 0] >= 0.5)).mean() < 1e-4
