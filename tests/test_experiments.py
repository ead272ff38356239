import numpy as np
import pandas as pd
import pytest
import yaml

from helpers import REPO
from snakeseg.evaluation import plots
from snakeseg.training.models import build_model
from snakeseg.training.recipe import AUTO_PATCH_MAX
from snakeseg.workflow import experiments
from snakeseg.errors import InputError

SCHEMA = str(REPO / "schemas" / "config.schema.json")
BASE = {"model": {"arch": "Unet", "backbone": "resnet18", "decoder_filters": [8, 8, 8, 8, 8]},
        "train": {"epochs": 50, "augment": {"flips": True, "rot90": True}}}


def test_no_experiments_means_one_called_main():
    assert experiments.expand(BASE, SCHEMA) == {"main": {"model": BASE["model"], "train": BASE["train"], "data": {}}}


def test_experiments_may_change_the_normalisation_but_not_what_shapes_the_shards():
    cfg = {**BASE, "data": {"normalize": "zscore", "scale": 1.0},
           "experiments": {"plain": {"data": {"normalize": "none"}}, "default": {}}}
    out = experiments.expand(cfg, SCHEMA)
    assert out["plain"]["data"] == {"normalize": "none", "scale": 1.0} and out["default"]["data"]["normalize"] == "zscore"
    with pytest.raises(InputError, match="experiments.x.data.scale"):
        experiments.expand({**cfg, "experiments": {"x": {"data": {"scale": 0.5}}}}, SCHEMA)


def test_overrides_merge_key_by_key_over_the_base():
    cfg = {**BASE, "experiments": {"unet": {}, "hrnet": {"model": {"arch": "hrnet", "width": 8},
                                                        "train": {"augment": {"rot90": False}}}}}
    out = experiments.expand(cfg, SCHEMA)
    assert list(out) == ["unet", "hrnet"]
    assert out["hrnet"]["model"]["arch"] == "hrnet" and out["hrnet"]["model"]["backbone"] == "resnet18"
    assert out["hrnet"]["train"] == {"epochs": 50, "augment": {"flips": True, "rot90": False}}
    assert out["unet"]["model"] == BASE["model"]
    assert BASE["train"]["augment"]["rot90"] is True  # the base is not modified


@pytest.mark.parametrize("override,match", [
    ({"bad name": {}}, "experiments.bad name: is not a usable name"),
    ({"x": {"model": {"arch": "Resnet"}}}, "experiments.x.model.arch"),
    ({"x": {"train": {"epochz": 3}}}, "experiments.x.train.*epochz"),
])
def test_bad_experiments_name_the_key(override, match):
    with pytest.raises(InputError, match=match):
        experiments.expand({**BASE, "experiments": override}, SCHEMA)


def test_a_warm_up_without_an_encoder_is_refused_before_any_job_runs():
    from snakeseg.training.models import NO_ENCODER

    assert set(experiments.WITHOUT_ENCODER) == set(NO_ENCODER)
    cfg = {**BASE, "train": {**BASE["train"], "warmup_epochs": 2},
           "experiments": {"unet": {}, "small": {"model": {"arch": "simple_cnn"}}}}
    with pytest.raises(InputError, match="experiments.small: train.warmup_epochs 2: model.arch simple_cnn has no "
                                         "encoder .* Fix: set train.warmup_epochs: 0 for it"):
        experiments.expand(cfg, SCHEMA)
    cfg["experiments"]["small"]["train"] = {"warmup_epochs": 0}
    assert experiments.expand(cfg, SCHEMA)["unet"]["train"]["warmup_epochs"] == 2


@pytest.mark.parametrize("example", sorted(p.name for p in (REPO / "examples").glob("*.yaml")))
def test_every_model_of_an_example_config_builds_at_the_side_it_trains_on(example):
    """The README's example commands: each experiment's network takes the patch (native) or square
    (resize) side the example's config gives it on a CPU (PSPNet needs a multiple of 48)."""
    config = experiments.deep_merge(yaml.safe_load((REPO / "config.yaml").read_text()),
                                    yaml.safe_load((REPO / "examples" / example).read_text()))
    for name, merged in experiments.expand(config, SCHEMA).items():
        train = merged["train"]
        side = config["image_size"] if train["mode"] == "resize" else train["patch_size"]
        side = AUTO_PATCH_MAX["cpu"] if side == "auto" else side
        key = "image_size" if train["mode"] == "resize" else "train.patch_size"
        assert build_model(merged["model"], side, 1, key).output_shape[1:3] == (side, side), name


def test_comparison_plot_shows_test_set_dice_only_when_a_test_set_was_scored(monkeypatch):
    drawn = {}
    monkeypatch.setattr(plots, "_save", lambda fig, path: drawn.update({path: fig}))
    per_image = pd.DataFrame({"experiment": ["a", "a", "b", "b"], "fold": [0, 1, 0, 1], "dice": [0.8, 0.9, 0.7, 0.7]})
    table = pd.DataFrame({"experiment": ["a", "b"], "arch": ["Unet", "Unet"], "dice_mean": [0.85, 0.7],
                          "dice_quantized_mean": [0.84, 0.69], "tflite_dynamic_mb": [1.0, 1.0],
                          "test_dice_mean": [0.91, np.nan]})
    for name, frame in (("with", table), ("without", table.drop(columns="test_dice_mean")),
                        ("unscored", table.assign(test_dice_mean=np.nan))):
        plots.comparison(per_image, frame, name)
    labels = {name: [t.get_text() for t in fig.axes[0].get_legend().get_texts()] for name, fig in drawn.items()}
    assert "fold ensemble, test set" in labels["with"]
    assert "fold ensemble, test set" not in labels["without"] and labels["unscored"] == labels["without"]
    # Each bar is labelled with its Dice (a's test bar 0.910); b's missing test score gets no label.
    numbers = [t.get_text() for t in drawn["with"].axes[0].texts]
    assert "0.910" in numbers and numbers.count("nan") == 0 and len(numbers) == 5
    # The orange bar is the out-of-fold Dice plus what quantizing changed, both scored without TTA.
    plots.comparison(per_image, table.assign(dice_quantized_change=[-0.02, 0.01]), "change")
    numbers = [t.get_text() for t in drawn["change"].axes[0].texts]
    assert "0.830" in numbers and "0.710" in numbers and "0.840" not in numbers


def test_the_comparison_plot_shows_the_tflite_variants_that_were_built(monkeypatch):
    """quantize.variants [int8]: an int8 bar and its size, no empty dynamic-range entry or size panel."""
    from snakeseg.evaluation.compare import quantized_columns

    drawn = {}
    monkeypatch.setattr(plots, "_save", lambda fig, path: drawn.update({path: fig}))
    per_image = pd.DataFrame({"experiment": ["a", "a"], "fold": [0, 1], "dice": [0.8, 0.9]})
    rows = [{"variant": v, "status": "ok", "bytes": b, "n_images": 4, "dice_mean": d, "dice_diff": d - 0.85}
            for v, b, d in (("keras", 2e6, 0.85), ("int8", 0.55e6, 0.8))]
    table = pd.DataFrame([{"experiment": "a", "arch": "Unet", "dice_mean": 0.85,
                           **quantized_columns(pd.DataFrame(rows))}])
    plots.comparison(per_image, table, "int8")
    ax, ax_size = drawn["int8"].axes
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["fold means, out-of-fold",
                                                                   "float model, out-of-fold", "TFLite int8"]
    assert "0.800" in [t.get_text() for t in ax.texts]
    assert [round(bar.get_width(), 2) for bar in ax_size.patches] == [0.55]
    assert [t.get_text() for t in ax_size.texts] == [" 0.55 MB"]


def test_deep_supervision_forced_on_an_architecture_without_unet_stages_is_refused_at_start():
    cfg = {**BASE, "train": {**BASE["train"], "deep_supervision": True},
           "experiments": {"unet": {}, "fpn": {"model": {"arch": "FPN"}}}}
    with pytest.raises(InputError, match="experiments.fpn: train.deep_supervision true: needs .* model.arch FPN lacks"):
        experiments.expand(cfg, SCHEMA)
    cfg["train"]["deep_supervision"] = "auto"  # auto: on for the Unet, off for the FPN
    assert list(experiments.expand(cfg, SCHEMA)) == ["unet", "fpn"]


def test_the_comparison_row_gives_each_class_dice_of_multi_class_data():
    from snakeseg.evaluation.compare import comparison_row

    stat = {"mean": 0.4, "median": 0.4}
    overall = {"n_images": 4, **{m: stat for m in ("dice", "iou", "precision", "recall")},
               "dice_small": {"mean": 0.065, "median": 0.0}, "dice_large": {"mean": 0.752, "median": 0.8}}
    summary = {"overall": overall, "per_fold": {"0": overall}}
    quantized = pd.DataFrame([{"variant": "keras", "status": "ok", "bytes": 1e6, "n_images": 4, "dice_mean": 0.4,
                               "dice_diff": 0.0}])
    row = comparison_row("main", {"arch": "Unet", "backbone": "resnet18"}, summary, quantized, test_summary=summary)
    assert row["dice_small_mean"] == 0.065 and row["dice_large_mean"] == 0.752  # the failing class shows
    assert row["test_dice_small_mean"] == 0.065 and "dice_mean_fold0" in row
    one_class = {"overall": {k: v for k, v in overall.items() if not k.startswith("dice_")} | {"dice": stat},
                 "per_fold": {}}
    assert not [k for k in comparison_row("main", {"arch": "Unet"}, one_class, quantized) if "small" in k]


def test_the_comparison_plot_names_the_tflite_engine_that_scored_the_test_set():
    table = pd.DataFrame({"experiment": ["a", "b"], "dice_mean": [0.8, 0.7], "test_dice_mean": [0.81, 0.72],
                          "test_engine": ["int8", "keras"]})
    labels = {column: label for column, label, _ in plots.comparison_series(table)}
    assert labels["test_dice_mean"] == "fold ensemble, test set (int8 TFLite)"
    keras_only = table.assign(test_engine="keras")
    assert dict((c, lab) for c, lab, _ in plots.comparison_series(keras_only))["test_dice_mean"] == "fold ensemble, test set"


def test_an_experiments_warm_up_longer_than_its_training_or_a_missing_weights_file_is_refused_at_start(tmp_path):
    cfg = {**BASE, "experiments": {"main": {}, "warm": {"train": {"warmup_epochs": BASE["train"]["epochs"]}}}}
    with pytest.raises(InputError, match="experiments.warm: train.warmup_epochs .* must be smaller than train.epochs"):
        experiments.expand(cfg, SCHEMA)
    cfg = {**BASE, "experiments": {"main": {}, "pre": {"model": {"encoder_weights": str(tmp_path / "nope.h5")}}}}
    with pytest.raises(InputError, match="experiments.pre.model.encoder_weights: .*nope.h5: is neither null"):
        experiments.expand(cfg, SCHEMA)
    (tmp_path / "nope.h5").write_bytes(b"weights")
    assert experiments.expand(cfg, SCHEMA)["pre"]["model"]["encoder_weights"] == str(tmp_path / "nope.h5")


def test_new_encoder_weights_under_the_same_name_start_a_killed_training_over(tmp_path):
    import os

    from snakeseg.workflow.folds import fold_fingerprint

    weights = tmp_path / "resnet18_no_top.h5"
    weights.write_bytes(b"first weights")
    model = {"arch": "Unet", "encoder_weights": str(weights)}
    first = fold_fingerprint(0, model, {"epochs": 3}, {}, ["fg"], {"0000"}, [])
    assert fold_fingerprint(0, model, {"epochs": 3}, {}, ["fg"], {"0000"}, []) == first  # resumes
    weights.write_bytes(b"other weights!")
    os.utime(weights, (1, 1))
    assert fold_fingerprint(0, model, {"epochs": 3}, {}, ["fg"], {"0000"}, []) != first


def test_the_schema_lists_the_backbones_segmentation_models_has():
    from snakeseg.tfenv import sm

    schema = yaml.safe_load((REPO / "schemas" / "config.schema.json").read_text())
    assert schema["properties"]["model"]["properties"]["backbone"]["enum"] == sm.get_available_backbone_names()


@pytest.mark.parametrize("model,train,match", [
    ({"arch": "PSPNet"}, {"patch_size": 64}, r"config train.patch_size 64: model.arch PSPNet needs a multiple of 48\. "
                                             r"Fix: set train.patch_size to 96, 192, 288, 384, \.\.\. or auto"),
    ({"arch": "custom_unet", "depth": 7}, {}, "config model.depth 7: custom_unet deeper than 5 levels"),
    ({"arch": "custom_unet", "depth": 5}, {"patch_size": 96}, "needs a multiple of 32"),  # not this one: fine
    ({"arch": "hrnet", "encoder_weights": "imagenet"}, {}, "config model.encoder_weights: imagenet: hrnet has no "
                                                           "pretrained encoder"),
    ({"arch": "Unet"}, {"warmup_epochs": 50}, r"config train.warmup_epochs 50: must be smaller than train.epochs \(50"),
])
def test_model_settings_training_would_refuse_are_refused_at_start(model, train, match):
    """Without experiments the message names the keys the user wrote (no experiments.main)."""
    cfg = {"model": {**BASE["model"], "depth": 4, **model}, "train": {**BASE["train"], "mode": "native", **train}}
    if match == "needs a multiple of 32":
        assert experiments.expand(cfg, SCHEMA)["main"]["train"]["patch_size"] == 96
        return
    with pytest.raises(InputError, match=match):
        experiments.expand(cfg, SCHEMA)


def test_an_experiments_mistakes_are_listed_together_and_whole_numbers_become_integers():
    cfg = {**BASE, "experiments": {"x": {"train": {"patch_size": 100, "epochs": "ten", "epoch": 5}}}}
    with pytest.raises(InputError) as err:
        experiments.expand(cfg, SCHEMA)
    lines = str(err.value).splitlines()
    assert lines[0] == "config experiments.x: does not fit schemas/config.schema.json:"
    assert any(line.startswith("  experiments.x.train.epoch: unknown key") for line in lines)
    assert any("experiments.x.train.epochs: 'ten'" in line for line in lines)
    assert any("experiments.x.train.patch_size: 100" in line for line in lines)
    out = experiments.expand({**BASE, "experiments": {"x": {"train": {"epochs": 5.0}}}}, SCHEMA)
    assert out["x"]["train"]["epochs"] == 5 and isinstance(out["x"]["train"]["epochs"], int)


def test_the_loss_follows_the_classes_unless_set():
    auto = {**BASE, "train": {**BASE["train"], "loss": "auto"}}
    assert experiments.expand(auto, SCHEMA)["main"]["train"]["loss"] == "dice_focal"
    several = {**auto, "masks": {"classes": ["circle", "square"]}, "experiments": {"a": {}, "b": {"train": {"loss": "dice"}}}}
    with pytest.raises(InputError, match="config experiments.b: train.loss/train.monitor: 2 classes need a multi-class"):
        experiments.expand(several, SCHEMA)
    del several["experiments"]["b"]
    assert experiments.expand(several, SCHEMA)["a"]["train"]["loss"] == "cce_ignore"


def test_class_colours_must_match_the_format_and_the_classes():
    base = {"train": {"warmup_epochs": 0, "epochs": 5}}
    colours = {"format": "colours", "classes": ["a", "b"], "colours": [[128, 0, 0], [0, 128, 0]]}
    assert experiments.check({**base, "masks": colours}) == ["a", "b"]
    for bad in ({**colours, "colours": [[128, 0, 0]]}, {**colours, "colours": None},
                {**colours, "format": "index"}):
        with pytest.raises(InputError, match=r"config masks.colours: lists .* colour\(s\) for masks.format"):
            experiments.check({**base, "masks": bad})
    for bad in ({**colours, "colours": [[0, 0, 0], [0, 128, 0]]}, {**colours, "colours": [[9, 9, 9], [9, 9, 9]]},
                {**colours, "ignore_value": 255}):
        with pytest.raises(InputError, match="names black .*, a colour twice, or comes with masks.ignore_value"):
            experiments.check({**base, "masks": bad})


def test_a_shards_set_aside_images_do_not_start_its_folds_training_over():
    from snakeseg.workflow.folds import fold_fingerprint

    index = {"shard": "0001", "count": 5, "images": 5, "ids": ["a", "b"], "sizes": [[64, 64]] * 5, "set_aside": {}}
    first = fold_fingerprint(0, {"arch": "Unet"}, {"epochs": 3}, {}, ["fg"], {"0000"}, [index])
    broken = {**index, "set_aside": {"broken01": {"reason": "cannot be decoded", "files": ["images/broken01.png"]}}}
    assert fold_fingerprint(0, {"arch": "Unet"}, {"epochs": 3}, {}, ["fg"], {"0000"}, [broken]) == first
    changed = {**index, "sizes": [[64, 64]] * 4 + [[64, 65]]}
    assert fold_fingerprint(0, {"arch": "Unet"}, {"epochs": 3}, {}, ["fg"], {"0000"}, [changed]) != first
