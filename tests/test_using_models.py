"""Using the trained models: new images (predict_input) segmented by the fold ensemble, sharded so that
additions rerun only their shards, and a labelled test set (test_input) scored and compared."""
import json
import shutil
import subprocess
import sys

import cv2
import pandas as pd
import pytest

from helpers import REPO, good_item, images_from_demo, job_counts, snakemake, write_dsb_zip
from snakeseg.data import shards
from snakeseg.tables import read_table

pytestmark = pytest.mark.slow


def test_new_images_and_a_test_set_through_the_ensemble(tmp_path, tiny_demo_run):
    """One run with predict_input and test_input, then two added new images rerun only their shards."""
    work = tmp_path / "run"
    shutil.copytree(tiny_demo_run, work, symlinks=True)
    new = tmp_path / "new"
    images_from_demo(work, new, 4, "new")
    (new / "new3.png").rename(new / "NA.png")  # a name pandas would read as a missing value
    (new / "broken.png").write_bytes(b"not an image")
    (new / ".DS_Store").write_bytes(b"junk")
    items = {f"t{i:02d}": good_item(i, size=(64, 80)) for i in range(4)}
    items["nomask"] = (items["t00"][0], [])
    archive = write_dsb_zip(tmp_path / "test.zip", items)
    cfg = tmp_path / "use.yaml"
    cfg.write_text(f"predict_input: {new}\ntest_input: {archive}\n")
    targets = ["results/inference/main/summary.csv", "results/test/main/summary.json", "results/metrics/comparison.csv",
               "results/inference/main/overview.png", "results/test/main/gallery.png"]
    snakemake(work, *targets, configfile=cfg)
    check_new_images(work / "results" / "inference" / "main", new)
    check_test_set(work / "results", items)
    check_models_folder_alone(work, new, tmp_path)
    # Two more images: only their shards are staged and segmented again.
    for i in (4, 5):
        shutil.copyfile(new / "new0.png", new / f"new{i}.png")
    touched = {shards.shard_name(shards.shard_of(f"new{i}", 4)) for i in (4, 5)}
    counts = job_counts(snakemake(work, *targets, "-n", configfile=cfg).stdout)
    assert counts == {"unzip_new": len(touched), "predict_new": len(touched), "postprocess_new": len(touched),
                      "inference_summary": 1, "new_images_overview": 1}, counts
    snakemake(work, *targets, configfile=cfg)
    assert len(read_table(work / "results" / "inference" / "main" / "summary.csv")) == 6
    assert len(list((work / "results" / "inference" / "main" / "masks").glob("*.png"))) == 6
    # A predict key reruns only the predictions that use it; the batch size reruns none; what is applied
    # after the network reruns only the post-processing and the tables after it.
    n_new, n_test = (len(list((work / "results" / kind / "main" / "shards").iterdir())) for kind in ("inference", "test"))
    after_new = {"postprocess_new": n_new, "inference_summary": 1, "new_images_overview": 1}
    after_test = {"postprocess": 2, "metrics": 1, "postprocess_test": n_test, "test_metrics": 1, "compare": 1,
                  "test_gallery": 1}
    for change, expected in [("predict: {batch_size: 2}", {}),
                             ("predict: {save_probabilities: true}", after_new),
                             ("predict: {geojson: false}", after_new),
                             ("predict: {overlay_truth: false}", after_test),
                             ("predict: {overlay_thickness: 2}", {**after_new, **after_test}),
                             ("instances: {min_size: 30}", {**after_new, **after_test})]:
        cfg.write_text(f"predict_input: {new}\ntest_input: {archive}\n{change}\n")
        counts = job_counts(snakemake(work, *targets, "-n", configfile=cfg).stdout)
        assert counts == expected, (change, counts)
    # The objects change with instances.min_size, from the same saved masks, without the network.
    before = pd.read_csv(work / "results" / "inference" / "main" / "objects.csv")
    snakemake(work, *targets, configfile=cfg)
    after = pd.read_csv(work / "results" / "inference" / "main" / "objects.csv")
    assert after["area"].min() >= 30 and len(after) == (before["area"] >= 30).sum() > 0


def check_models_folder_alone(work, new, tmp_path):
    """The experiment's models folder, copied elsewhere, segments the new images as predict_new did."""
    elsewhere = tmp_path / "elsewhere" / "main"
    shutil.copytree(work / "results" / "models" / "main", elsewhere)
    out = tmp_path / "segmented"
    proc = subprocess.run([sys.executable, "-m", "snakeseg", "segment", str(elsewhere), str(new), str(out),
                           "--threads", "1"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "4 images segmented" in proc.stdout and "2 set aside" in proc.stdout
    ours, workflow = (read_table(d / "summary.csv") for d in (out, work / "results" / "inference" / "main"))
    assert list(ours["id"]) == list(workflow["id"]) and list(ours["objects"]) == list(workflow["objects"])
    for image_id in ours["id"]:
        a, b = (cv2.imread(str(d / "masks" / f"{image_id}.png"), cv2.IMREAD_UNCHANGED)
                for d in (out, work / "results" / "inference" / "main"))
        assert (a == b).mean() > 0.999
    assert len(pd.read_csv(out / "objects.csv")) == ours["objects"].sum()
    for image_id in ours["id"]:  # the same outlines for QuPath
        a, b = ((d / "geojson" / f"{image_id}.geojson").read_bytes() for d in (out, work / "results" / "inference" / "main"))
        assert a == b
    assert cv2.imread(str(out / "overview.png")) is not None
    assert sorted(pd.read_csv(out / "set_aside.csv", dtype=str)["files"]) == [".DS_Store", "broken.png"]
    check_quantize_folder_alone(work, new, out, tmp_path)
    unreadable = tmp_path / "unreadable"
    unreadable.mkdir()
    shutil.copy(new / "broken.png", unreadable)
    proc = subprocess.run([sys.executable, "-m", "snakeseg", "segment", str(elsewhere), str(unreadable),
                           str(tmp_path / "nothing")], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 1 and "no image could be segmented" in proc.stderr  # a batch script sees it
    (elsewhere / "settings.json").unlink()
    proc = subprocess.run([sys.executable, "-m", "snakeseg", "segment", str(elsewhere), str(new), str(out)],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 1 and "has fold models but no settings.json beside them" in proc.stderr


#: `python -m snakeseg` in a Python where importing TensorFlow (or Keras on it) fails, as where it is not installed.
WITHOUT_TENSORFLOW = ("import sys; sys.modules.update(dict.fromkeys(('tensorflow', 'tf_keras', 'segmentation_models')));"
                      "from snakeseg.__main__ import main; sys.exit(main(sys.argv[1:]))")


def check_quantize_folder_alone(work, new, keras_out, tmp_path):
    """The quantize folder's int8 models alone (no SavedModel, no Keras file) segment the new images
    without TensorFlow, as the Keras models do."""
    elsewhere = tmp_path / "deploy" / "main"
    shutil.copytree(work / "results" / "quantized" / "main", elsewhere, ignore=shutil.ignore_patterns("savedmodel"))
    assert not list(elsewhere.rglob("*.h5")) and (elsewhere / "settings.json").exists()
    out = tmp_path / "segmented-int8"
    proc = subprocess.run([sys.executable, "-c", WITHOUT_TENSORFLOW, "segment", str(elsewhere), str(new), str(out),
                           "--threads", "1"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "4 images segmented" in proc.stdout and "2 set aside" in proc.stdout
    for image_id in read_table(keras_out / "summary.csv")["id"]:
        a, b = (cv2.imread(str(d / "masks" / f"{image_id}.png"), cv2.IMREAD_UNCHANGED) for d in (out, keras_out))
        assert (a == b).mean() > 0.95  # int8 against float: the tiny run's 2-epoch models are unsure (0.984 seen)
    proc = subprocess.run([sys.executable, "-m", "snakeseg", "segment", str(elsewhere), str(new), str(out),
                           "--engine", "float16"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for variant in ("float16", "int8"):  # a variant no fold has: the error names the file
        for fold in elsewhere.glob("fold-*"):
            (fold / f"model_{variant}.tflite").unlink()
    proc = subprocess.run([sys.executable, "-m", "snakeseg", "segment", str(elsewhere), str(new), str(out)],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 1 and "model_int8.tflite: has no int8 model: it converted but the file is not" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "snakeseg", "segment", str(work / "results" / "models" / "main"),
                           str(new), str(out), "--engine", "int8"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 1 and "is a models folder (Keras files), not a quantize folder" in proc.stderr


def check_new_images(out, new):
    summary = read_table(out / "summary.csv")
    assert sorted(summary["id"]) == ["NA", "new0", "new1", "new2"]
    assert list(summary["shard"]) == [shards.shard_name(shards.shard_of(i, 4)) for i in summary["id"]]
    for row in summary.itertuples():
        mask = cv2.imread(str(out / "shards" / f"shard-{row.shard}" / "masks" / f"{row.id}.png"), cv2.IMREAD_UNCHANGED)
        image = cv2.imread(str(new / f"{row.id}.png"))
        assert mask.shape == image.shape[:2] == (row.height, row.width)
        assert set(mask.ravel()) <= {0, 255} and row.foreground_fraction == pytest.approx((mask > 0).mean(), abs=1e-6)
        assert (out / "shards" / f"shard-{row.shard}" / "overlays" / f"{row.id}.png").exists()
        # Demo data have instance masks: each new image also gets its 16-bit object ids.
        ids = cv2.imread(str(out / "shards" / f"shard-{row.shard}" / "instances" / f"{row.id}.png"), cv2.IMREAD_UNCHANGED)
        assert ids.dtype == "uint16" and ids.shape == mask.shape and ids.max() == row.objects
        assert ((ids > 0) <= (mask > 0)).all()
    # One row per predicted object, with its area in pixels of the image's object-id map.
    objects = read_table(out / "objects.csv")
    assert objects.groupby("id").size().reindex(summary["id"], fill_value=0).tolist() == summary["objects"].tolist()
    for row in objects.groupby("id").head(1).itertuples():
        shard = summary.set_index("id").loc[row.id, "shard"]
        ids = cv2.imread(str(out / "shards" / f"shard-{shard}" / "instances" / f"{row.id}.png"), cv2.IMREAD_UNCHANGED)
        assert row.area == (ids == row.object).sum()
    # Every shard's masks, overlays, object ids and outlines are also in one folder each.
    for kind, suffix in (("masks", "png"), ("overlays", "png"), ("instances", "png"), ("geojson", "geojson")):
        collected = {p.name: p.read_bytes() for p in (out / kind).iterdir() if not p.name.startswith(".")}
        in_shards = {p.name: p.read_bytes() for p in out.glob(f"shards/shard-*/{kind}/*")}
        assert sorted(collected) == sorted(f"{i}.{suffix}" for i in summary["id"]) and collected == in_shards
    # One QuPath detection per object, outlined where its object ids are.
    for row in summary.itertuples():
        features = json.loads((out / "geojson" / f"{row.id}.geojson").read_text())["features"]
        assert len(features) == row.objects
        assert all(f["properties"]["classification"]["name"] == "foreground" for f in features)
    aside = pd.read_csv(out / "set_aside.csv", dtype=str, keep_default_na=False)
    assert "broken.png: cannot be decoded" in dict(zip(aside["files"], aside["reason"]))["broken.png"]
    assert ".DS_Store" in set(aside["files"])


def check_test_set(results, items):
    out = results / "test" / "main"
    per_image = pd.read_csv(out / "per_image.csv", dtype={"shard": str})
    assert sorted(per_image["id"]) == sorted(i for i in items if i != "nomask")
    assert per_image["dice"].between(0, 1).all() and (per_image["n_instances"] == 2).all()
    assert (per_image["n_true"] == 2).all() and per_image["map"].between(0, 1).all()
    assert (per_image["count_error"] == (per_image["n_pred"] - 2).abs()).all()
    assert list(per_image["shard"]) == [shards.shard_name(shards.shard_of(i, 4)) for i in per_image["id"]]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["overall"]["n_images"] == 4
    set_aside = pd.read_csv(out / "set_aside.csv", dtype=str)  # listed, not silently dropped
    assert list(set_aside["id"]) == ["nomask"] and summary["n_set_aside"] == 1
    assert summary["overall"]["dice"]["mean"] == pytest.approx(per_image["dice"].mean(), abs=1e-6)
    for row in per_image.itertuples():
        in_shard = out / "shards" / f"shard-{row.shard}" / "masks" / f"{row.id}.png"
        assert cv2.imread(str(in_shard), cv2.IMREAD_UNCHANGED).shape == (64, 80)
        assert (out / "masks" / f"{row.id}.png").read_bytes() == in_shard.read_bytes()
    for kind in ("overlays", "probabilities", "instances"):
        assert sorted(p.name for p in (out / kind).glob("*.png")) == sorted(f"{i}.png" for i in per_image["id"])
    comparison = pd.read_csv(results / "metrics" / "comparison.csv")
    assert comparison["test_dice_mean"].iloc[0] == pytest.approx(summary["overall"]["dice"]["mean"], abs=1e-6)
    assert comparison["test_map_mean"].iloc[0] == pytest.approx(summary["overall"]["map"]["mean"], abs=1e-6)
    assert comparison["test_n_images"].iloc[0] == 4
    assert summary["engine"] == comparison["test_engine"].iloc[0] == "keras"  # which models scored it
    gallery = cv2.imread(str(out / "gallery.png"))  # the report's look at the test set
    assert gallery is not None and gallery.shape[0] > 200
