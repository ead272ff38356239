"""The overlay gallery and the object-count figure: selection of images, and valid PNGs written."""
import math

import cv2
import numpy as np
import pandas as pd
import pytest

from snakeseg.evaluation.gallery import _prediction_colours, gallery, object_counts, pick_gallery


def _table(dice, ids=None):
    ids = ids or [f"img{i}" for i in range(len(dice))]
    return pd.DataFrame({"id": ids, "fold": [i % 2 for i in range(len(dice))], "dice": dice, "iou": dice})


def _overlays(root, exp, table, size=(60, 80)):
    """One small synthetic overlay per row: noise, a green and a yellow circle."""
    for i, row in table.iterrows():
        image = np.random.default_rng(i).integers(60, 120, (*size, 3), dtype=np.uint8)
        cv2.circle(image, (30, 30), 12, (0, 255, 0), 2)
        cv2.circle(image, (33, 31), 11, (0, 255, 255), 2)
        folder = root / exp / f"fold-{row['fold']}" / "overlays"
        folder.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(folder / f"{row['id']}.png"), image)


def _path_fn(root):
    return lambda exp, row: str(root / exp / f"fold-{row['fold']}" / "overlays" / f"{row['id']}.png")


def _check_png(path, min_side=100):
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, path
    assert min(image.shape[:2]) >= min_side and max(image.shape[:2]) < 10000
    return image


def test_pick_gallery_lowest_and_highest_with_ties_by_id():
    table = _table([0.5, 0.1, 0.9, 0.1, 0.7, 0.9, 0.3], ids=["e", "b", "c", "a", "d", "f", "g"])
    worst, best = pick_gallery(table, 2)
    assert list(worst["id"]) == ["a", "b"]          # both 0.1: the smaller id first
    assert list(best["id"]) == ["f", "c"]           # both 0.9: the smaller id counts as lower
    assert list(best["dice"]) == [0.9, 0.9]
    worst, best = pick_gallery(table, 1)
    assert list(worst["id"]) == ["a"] and list(best["id"]) == ["f"]


def test_pick_gallery_all_tied_never_repeats():
    worst, best = pick_gallery(_table([0.5] * 4), 2)
    assert list(worst["id"]) == ["img0", "img1"] and list(best["id"]) == ["img3", "img2"]


def test_pick_gallery_small_tables_split_without_duplicates():
    table = _table([0.2, 0.8, 0.5])
    worst, best = pick_gallery(table, 3)
    assert list(worst["id"]) == ["img0"] and list(best["id"]) == ["img1", "img2"]
    worst, best = pick_gallery(_table([0.4]), 2)
    assert worst.empty and list(best["id"]) == ["img0"]
    worst, best = pick_gallery(_table([]).astype({"dice": float}), 2)
    assert worst.empty and best.empty


def test_pick_gallery_excludes_nan():
    table = _table([math.nan, 0.3, math.nan, 0.6, 0.1])
    worst, best = pick_gallery(table, 2)
    picked = list(worst["id"]) + list(best["id"])
    assert picked == ["img4", "img3", "img1"]  # 3 scored: 1 lowest, then 2 highest first
    assert not worst["dice"].isna().any() and not best["dice"].isna().any()


def test_gallery_writes_png(tmp_path):
    root = tmp_path / "predictions"
    a = _table([0.2, 0.9, 0.5, 0.7, 0.1])
    a["n_true"], a["n_pred"], a["map"] = [3, 5, 0, 2, 7], [4, 5, 1, 2, 3], [0.4, math.nan, 0.0, 0.8, 0.1]
    b = _table([0.6])                               # no instance columns, a single image
    _overlays(root, "a", a)
    _overlays(root, "b", b, size=(900, 700))        # large: downscaled for the figure
    out = tmp_path / "report" / "gallery.png"
    gallery({"a": a, "b": b}, _path_fn(root), 2, str(out))
    image = _check_png(out, min_side=300)
    assert image.shape[0] > image.shape[1] / 2      # three rows of panels: not a thin strip
    gallery({"b": b}, _path_fn(root), 1, str(tmp_path / "one.png"))
    _check_png(tmp_path / "one.png")


def test_gallery_missing_overlay_names_the_path(tmp_path):
    root = tmp_path / "predictions"
    table = _table([0.2, 0.9])
    _overlays(root, "a", table.iloc[:1])
    missing = _path_fn(root)("a", table.iloc[1])
    with pytest.raises(FileNotFoundError, match="img1.png") as info:
        gallery({"a": table}, _path_fn(root), 1, str(tmp_path / "g.png"))
    assert missing in str(info.value)
    assert not (tmp_path / "g.png").exists()


@pytest.mark.parametrize("spread", [1, 1000])
def test_object_counts_writes_png(tmp_path, spread, monkeypatch):
    rng = np.random.default_rng(0)
    frames = []
    for exp in ("unet", "fpn"):  # the config's order, not the alphabet's
        n_true = rng.integers(0, 20, 12) * spread
        frames.append(pd.DataFrame({"experiment": exp, "id": [f"i{k}" for k in range(12)], "dice": 0.5,
                                    "n_true": n_true, "n_pred": n_true + rng.integers(-3, 4, 12)}))
    table = pd.concat(frames, ignore_index=True)
    table["n_pred"] = table["n_pred"].clip(lower=0)
    table.loc[0, ["n_true", "n_pred"]] = math.nan   # rows without counts are skipped
    out = tmp_path / "counts.png"
    drawn = {}
    monkeypatch.setattr("snakeseg.evaluation.gallery.save", lambda fig, path: drawn.update(fig=fig))
    object_counts(table, str(out))
    ax = drawn["fig"].axes[0]
    assert ax.get_title() == "Object counts, true vs predicted (12 images)"  # 12 images, each scored twice
    assert [t.get_text().split(" ")[0] for t in ax.get_legend().get_texts()][:2] == ["unet", "fpn"]
    monkeypatch.undo()
    object_counts(table, str(out))
    _check_png(out, min_side=300)


@pytest.mark.parametrize("drop", [True, False])
def test_object_counts_without_instances_still_writes_png(tmp_path, drop):
    table = _table([0.2, 0.9]).assign(experiment="a")
    if not drop:
        table["n_true"], table["n_pred"] = math.nan, math.nan
    out = tmp_path / "counts.png"
    object_counts(table, str(out))
    _check_png(out)


def test_new_images_overview_shows_the_fewest_and_most_objects(tmp_path):
    """New images have no Dice: the overview picks by objects (instance outputs) or connected
    components (none), names a missing overlay, and writes a valid figure with the histograms."""
    from snakeseg.evaluation.overview import count_column, new_images_overview

    counts = [5, 0, 12, 3, 40, 7]
    summary = pd.DataFrame({"id": [f"n{i}" for i in range(6)], "objects": counts, "components": counts,
                            "foreground_fraction": [0.01 * c for c in counts]})
    objects = pd.DataFrame({"id": np.repeat(summary["id"], counts), "area": np.arange(1, sum(counts) + 1) * 10,
                            "mean_intensity": np.linspace(100, 4000, sum(counts))})
    fewest, most = pick_gallery(summary, 2, by="objects")
    assert list(fewest["id"]) == ["n1", "n3"] and list(most["id"]) == ["n4", "n2"]
    assert count_column(summary) == ("objects", "objects")
    assert count_column(summary.assign(objects=None)) == ("components", "connected components")
    overlays = tmp_path / "overlays"
    _overlays(tmp_path, "x", summary.assign(fold=0))
    (tmp_path / "x" / "fold-0" / "overlays").rename(overlays)
    (overlays / "n4.png").unlink()
    with pytest.raises(FileNotFoundError, match="n4.png"):
        new_images_overview(summary, objects, overlays, 2, str(tmp_path / "o.png"), "New images")
    _overlays(tmp_path, "x", summary.assign(fold=0).iloc[[4]])
    (tmp_path / "x" / "fold-0" / "overlays" / "n4.png").rename(overlays / "n4.png")
    new_images_overview(summary, objects, overlays, 2, str(tmp_path / "o.png"), "New images")
    plain = _check_png(tmp_path / "o.png", min_side=400)
    # With the expected Dice, a first row of the least sure masks and its histogram.
    sure = summary.assign(expected_dice=[0.9, None, 0.95, 0.5, 0.8, 0.99])
    assert list(pick_gallery(sure, 2, "expected_dice")[0]["id"]) == ["n3", "n4"]
    new_images_overview(sure, objects, overlays, 2, str(tmp_path / "s.png"), "New images")
    assert _check_png(tmp_path / "s.png").shape[0] > plain.shape[0] + 150
    new_images_overview(summary.iloc[:0], objects.iloc[:0], overlays, 2, str(tmp_path / "empty.png"), "New images")
    _check_png(tmp_path / "empty.png")


def test_the_title_names_each_class_colour_of_multi_class_overlays():
    assert _prediction_colours({"main": pd.DataFrame(columns=["id", "dice", "expected_dice"])}) == "yellow: prediction"
    several = pd.DataFrame(columns=["id", "dice", "dice_small", "dice_large"])
    assert _prediction_colours({"main": several}) == "prediction: small yellow, large magenta"


def test_a_very_thin_overlay_is_stretched_to_a_panel_a_viewer_can_see(tmp_path):
    from snakeseg.evaluation.gallery import load_overlay

    thin = np.zeros((8, 3000, 3), np.uint8)
    thin[:, :, 2] = 255  # red in BGR
    cv2.imwrite(str(tmp_path / "thin.png"), thin)
    shown = load_overlay(str(tmp_path / "thin.png"))
    assert shown.shape[:2] == (64, 512)  # 512 wide, stretched to 1/8 of that high
    assert (shown[..., 0] > 200).all() and (shown[..., 1:] < 50).all()  # the image's red, every row
    square = np.zeros((300, 200, 3), np.uint8)
    cv2.imwrite(str(tmp_path / "square.png"), square)
    assert load_overlay(str(tmp_path / "square.png")).shape[:2] == (300, 200)  # others as they are


def test_dice_histogram_of_several_classes_adds_a_row_of_each_class(tmp_path):
    from snakeseg.evaluation.plots import dice_histogram

    rng = np.random.default_rng(0)
    table = pd.DataFrame({"experiment": "main", "id": [f"i{k}" for k in range(30)], "fold": np.arange(30) % 3,
                          "dice_round": rng.uniform(0.6, 1, 30), "dice_square": rng.uniform(0.2, 0.9, 30)})
    table["dice"] = table[["dice_round", "dice_square"]].mean(axis=1)
    table.loc[0, "dice_square"] = np.nan  # a class absent from an image and its prediction
    dice_histogram(table.drop(columns=["dice_round", "dice_square"]), str(tmp_path / "binary.png"))
    dice_histogram(table, str(tmp_path / "classes.png"))
    binary, classes = _check_png(tmp_path / "binary.png"), _check_png(tmp_path / "classes.png")
    assert classes.shape[0] > 1.5 * binary.shape[0]  # the classes' row below the mean's histogram


def test_a_long_id_keeps_its_start_and_end_in_a_caption():
    from snakeseg.evaluation.gallery import short_id

    assert short_id("0cdf5b5d0c_01", 13) == "0cdf5b5d0c_01"
    views = {short_id(f"0cdf5b5d0c1f_{n:02d}", 10) for n in range(1, 17)}  # one car's 16 views
    assert len(views) == 16 and all(len(v) == 10 and v.endswith(f"_{v[-2:]}") for v in views)
    assert short_id("a" * 64, 13) == "a" * 6 + "\u2026" + "a" * 6


def test_training_curves_of_several_classes_show_no_empty_f_score_panel(tmp_path, monkeypatch):
    from snakeseg.evaluation import plots

    titles = []
    monkeypatch.setattr(plots.plt.Axes, "set_title", lambda ax, text, *a, **k: titles.append(text))
    epochs = np.arange(4)
    binary = pd.DataFrame({"epoch": epochs, "loss": 1 / (epochs + 1), "iou_score": epochs / 5, "f1-score": epochs / 4,
                           "val_loss": 1 / (epochs + 2), "val_iou_score": epochs / 6, "val_f1-score": epochs / 5})
    plots.training_curves({("main", "0"): binary}, str(tmp_path / "binary.png"))
    assert titles == ["Loss (train.loss, all heads)", "IoU @ 0.5", "F-score @ 0.5"]
    titles.clear()
    several = binary.drop(columns=["f1-score", "val_f1-score"])
    plots.training_curves({("main", "0"): several, ("main", "1"): several}, str(tmp_path / "classes.png"))
    assert titles == ["Loss (train.loss, all heads)", "mean IoU over classes and background (arg-max)"]
    _check_png(tmp_path / "classes.png")
