"""What `python -m snakeseg segment` checks before it loads a model: the models folder's folds and
settings, and an output folder it must not overwrite or segment again; and what it leaves there."""
import json
import re

import numpy as np
import pytest

from snakeseg.errors import InputError
from snakeseg.inference import newimages

SETTINGS = {"recipe": {}, "predict": {}, "classes": ["foreground"], "instances": {}}


def _models(tmp_path, folds=(0, 1, 2), settings=None):
    folder = tmp_path / "main"
    for k in folds:
        (folder / f"fold-{k}").mkdir(parents=True)
        (folder / f"fold-{k}" / "model.h5").write_bytes(b"h5")
    folder.mkdir(exist_ok=True)
    (folder / "settings.json").write_text(json.dumps({**SETTINGS, "folds": [0, 1, 2]} if settings is None else settings))
    return folder


def test_every_fold_of_the_settings_and_only_those(tmp_path):
    folder = _models(tmp_path)
    (folder / "fold-1 copy").mkdir()  # a file manager's backup copy is not a fold
    (folder / "fold-1 copy" / "model.h5").write_bytes(b"h5")
    engine, models = newimages.fold_models(folder, None)
    assert engine == "keras" and [m.split("/")[-2] for m in models] == ["fold-0", "fold-1", "fold-2"]
    (folder / "fold-1" / "model.h5").unlink()
    with pytest.raises(InputError, match=r"has the models of folds \[0, 2\], but its settings.json names folds \[0, 1, 2\]"):
        newimages.fold_models(folder, None)


def test_a_broken_settings_file_is_named(tmp_path):
    folder = _models(tmp_path, settings={"predict": {}})
    with pytest.raises(InputError, match="settings.json: lacks recipe, classes, instances"):
        newimages.fold_models(folder, None)
    (folder / "settings.json").write_text('{"recipe": ')  # truncated by a copy
    with pytest.raises(InputError, match="settings.json: cannot be read as the models' settings"):
        newimages.read_settings(folder)
    _models(tmp_path / "old", settings=SETTINGS)  # written before the folds were recorded: not checked
    assert len(newimages.fold_models(tmp_path / "old" / "main", None)[1]) == 3


def test_a_models_folder_a_level_off_names_the_experiment_folder_to_give(tmp_path):
    """results/models, a fold folder or a model file: the experiment folder to give, and what was looked for."""
    folder = _models(tmp_path / "models")
    with pytest.raises(InputError, match=r"models: holds no fold-\*/model.h5 with a settings.json beside them: "
                       r"it holds experiments' folders. Fix: give one of: .*models/main$"):
        newimages.fold_models(folder.parent, "keras")
    with pytest.raises(InputError, match=r"fold-0: is a fold folder, .* Fix: give the experiment's folder above it, "
                       + re.escape(str(folder)) + "$"):
        newimages.fold_models(folder / "fold-0", None)
    with pytest.raises(InputError, match=r"model.h5: is a model file, .* above it, " + re.escape(str(folder)) + "$"):
        newimages.fold_models(folder / "fold-0" / "model.h5", "keras")
    with pytest.raises(InputError, match=r"holds no fold-\*/model_float16.tflite with a settings.json"):
        newimages.fold_models(tmp_path, "float16")


def test_the_output_folder_is_not_the_images_folder_nor_someone_elses_masks(tmp_path):
    images = tmp_path / "data" / "images"
    images.mkdir(parents=True)
    (images / "a.png").write_bytes(b"png")
    with pytest.raises(InputError, match="is the images' folder itself"):
        newimages.images_to_segment(str(images), images)
    (tmp_path / "data" / "masks").mkdir()
    (tmp_path / "data" / "masks" / "a.png").write_bytes(b"the truth")
    with pytest.raises(InputError, match="masks: holds files that no earlier segment wrote"):
        newimages.check_output_folder(tmp_path / "data")
    (tmp_path / "data" / "summary.csv").write_text("id\n")  # an earlier segment's output: rewritten
    newimages.check_output_folder(tmp_path / "data")


def test_a_rerun_into_the_same_folder_leaves_only_its_own_images(tmp_path):
    for name in ("masks/a.png", "masks/gone.png", "overlays/gone.png", "geojson/gone.geojson", "instances/a.b.png"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    newimages.remove_stale_outputs(tmp_path, {"a", "a.b"})
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.*")) == ["instances/a.b.png", "masks/a.png"]


def test_batches_of_images_end_at_a_slides_worth_of_pixels_and_are_read_as_needed():
    from snakeseg.inference.predict import BATCH_PIXELS, batched

    read = []
    def images():
        for side in (3000, 3000, 100, 100, 100):
            read.append(side)
            yield np.zeros((side, side), np.uint8)
    batches = batched(images(), 8, image_of=lambda x: x)
    assert [x.shape[0] for x in next(batches)] == [3000] and read == [3000]  # the second slide not yet read
    assert [[x.shape[0] for x in b] for b in batches] == [[3000], [100, 100, 100]]
    assert 3000 ** 2 >= BATCH_PIXELS > 3 * 100 ** 2
    assert [len(b) for b in batched(range(5), 2)] == [2, 2, 1]


def test_what_a_killed_segment_run_left_in_its_output_folder_is_removed(tmp_path):
    left = tmp_path / f"{newimages.UNFINISHED}abc123" / "masks"
    left.mkdir(parents=True)
    (left / "a.png").write_bytes(b"png")
    (tmp_path / "masks").mkdir()
    (tmp_path / "masks" / "a.png").write_bytes(b"png")
    newimages.remove_unfinished(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["masks"]  # the finished outputs stay


@pytest.mark.parametrize("argv,named", [(["rle-masks", "{missing}", "{tmp}", "{tmp}/out"], "csv"),
                                        (["geojson-masks", "{tmp}", "{missing}", "{tmp}/out"], "images"),
                                        (["segment", "{missing}", "{tmp}", "{tmp}/out"], "models")])
def test_a_command_given_a_path_that_does_not_exist_says_so_in_one_line(tmp_path, capsys, argv, named):
    from snakeseg.__main__ import main

    missing = tmp_path / "typo"
    assert main([a.format(missing=missing, tmp=tmp_path) for a in argv]) == 1
    assert capsys.readouterr().err == f"error: {missing}: does not exist (the {named} argument). Fix: check the path\n"
