import pytest

from helpers import REPO
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
