"""The workflow driven through Snakemake, as a user runs it."""

import json
import math
import os
import shutil

import cv2
import numpy as np
import pandas as pd
import pytest

from helpers import SHARED_DATA, good_item, job_counts, png, snakemake, write_dsb_zip
from snakeseg.data import shards

EIGHT_RULES = {"unzip", "merge_masks", "make_shards", "train_fold", "predict", "metrics", "quantize", "report"}


def _zip_config(tmp_path, archive):
    cfg = tmp_path / "input.yaml"
    cfg.write_text(f"input: {archive}\n")
    return cfg


def test_dry_run_lists_the_eight_rules(tmp_path):
    out = snakemake(tmp_path, "-n").stdout
    counts = job_counts(out)
    assert EIGHT_RULES <= set(counts)
    assert counts["unzip"] == counts["merge_masks"] == counts["make_shards"] == 4
    assert counts["train_fold"] == counts["predict"] == counts["quantize"] == 2
    assert counts["metrics"] == 1 and counts["compare"] == 1


def test_demo_data_caps_the_epochs_and_calibration_and_real_data_keeps_them(tmp_path):
    cfg = tmp_path / "epochs.yaml"
    caps = "train: {epochs: 40}\nquantize: {calibration_samples: 150}\ndemo: {epochs: 3, calibration_samples: 5}\n"
    cfg.write_text(caps)
    proc = snakemake(tmp_path, "-n", "-p", configfile=cfg)
    out = proc.stdout
    assert '"epochs": 3,' in out and '"calibration_samples": 5,' in out
    notice = "demo data (no input set): experiment main trains 3 epochs (demo.epochs), not its train.epochs 40"
    assert notice in out + proc.stderr  # said, not silently capped
    archive = write_dsb_zip(tmp_path / "stage1_train.zip", {f"img{i:02d}": good_item(i) for i in range(8)})
    cfg.write_text(f"{caps}input: {archive}\n")
    proc = snakemake(tmp_path, "-n", "-p", configfile=cfg)
    out = proc.stdout
    assert '"epochs": 40,' in out and '"epochs": 3,' not in out and "demo.epochs" not in out + proc.stderr
    assert '"calibration_samples": 150,' in out and '"calibration_samples": 5,' not in out



def test_instance_settings_reach_no_job_of_data_without_instances(tmp_path):
    items = {f"img{i:02d}": good_item(i) for i in range(8)}
    extra = {f"data/images/w{i}.png": image for i, (image, _) in enumerate(items.values())}
    extra.update({f"data/masks/w{i}.png": masks[0] for i, (_, masks) in enumerate(items.values())})
    cfg = _zip_config(tmp_path, write_dsb_zip(tmp_path / "wounds.zip", {}, extra=extra))  # paired, binary
    out = snakemake(tmp_path, "-n", "-p", configfile=cfg).stdout
    assert "--instances '{\"enabled\": false}'" in out and "min_size" not in out and "--min-size 0" in out
    dsb = write_dsb_zip(tmp_path / "stage1_train.zip", items)  # one mask per nucleus: instances on
    out = snakemake(tmp_path, "-n", "-p", configfile=_zip_config(tmp_path, dsb)).stdout
    assert '"min_size": 10' in out and "--min-size 10" in out


def test_a_test_set_with_no_usable_image_is_refused_before_any_job(tmp_path):
    images_only = {f"t{i}": (good_item(i)[0], []) for i in range(3)}  # images without masks
    archive = write_dsb_zip(tmp_path / "test.zip", images_only)
    cfg = tmp_path / "test.yaml"
    cfg.write_text(f"test_input: {archive}\n")
    proc = snakemake(tmp_path, "-n", configfile=cfg, check=False)
    assert proc.returncode != 0
    assert f"{archive}: has no usable image; 3 set aside" in proc.stdout + proc.stderr

def test_one_image_file_or_a_test_set_without_masks_is_told_which_key_takes_it(tmp_path):
    unlabelled = tmp_path / "unlabelled"
    unlabelled.mkdir()
    for i in range(3):
        (unlabelled / f"a{i}.png").write_bytes(good_item(i)[0])
    cfg = tmp_path / "keys.yaml"
    cfg.write_text(f"predict_input: {unlabelled / 'a0.png'}\n")  # not 'is not a readable zip file'
    proc = snakemake(tmp_path, "-n", configfile=cfg, check=False)
    assert proc.returncode != 0 and (
        f"config predict_input: {unlabelled / 'a0.png'} is one image file, but predict_input takes a folder or zip "
        f"of images. Fix: give the folder it is in, {unlabelled}, or segment it alone: python -m snakeseg segment "
        in proc.stdout + proc.stderr)
    cfg.write_text(f"test_input: {unlabelled}\n")  # with the listing's own detail and fix
    proc = snakemake(tmp_path, "-n", configfile=cfg, check=False)
    text = proc.stdout + proc.stderr
    assert "config test_input: takes a labelled set, images and their masks, but " in text
    assert "paired layout masks folder: not found" in text and "Fix: images without masks go in predict_input" in text
    assert "for a test set, set paired.masks_dir" in text


def test_group_by_plans_a_cars_views_into_one_shard_and_says_what_it_found_no_group_in(tmp_path):
    ids = [f"car{c}_{v:02d}" for c in range(4) for v in range(1, 5)] + ["stray"]
    archive = write_dsb_zip(tmp_path / "cars.zip", {i: good_item(n) for n, i in enumerate(ids)})
    cfg = tmp_path / "cars.yaml"
    cfg.write_text(f"input: {archive}\ngroup_by: '^(car\\d)_'\n")  # quoted as a user would, \d kept
    proc = snakemake(tmp_path, "-n", configfile=cfg)
    assert "group_by '^(car\\d)_' finds no group in 1 image ids (e.g. stray)" in proc.stdout + proc.stderr
    cars = {}
    for manifest in (tmp_path / "work" / "plan").glob("shard-*.json"):
        for image_id in json.loads(manifest.read_text())["items"]:
            cars.setdefault(image_id.split("_")[0], set()).add(manifest.name)
    assert len(cars) == 5 and all(len(names) == 1 for names in cars.values())


@pytest.mark.slow
def test_one_changed_image_reruns_exactly_its_shard(tmp_path):
    items = {f"img{i:02d}": good_item(i) for i in range(16)}
    archive = write_dsb_zip(tmp_path / "stage1_train.zip", items)
    cfg = _zip_config(tmp_path, archive)
    snakemake(tmp_path, "--until", "make_shards", configfile=cfg)
    tfrecs = sorted((tmp_path / "work" / "tfrecords").glob("*.tfrec"))
    assert len(tfrecs) == 4
    mtimes = {p.name: p.stat().st_mtime_ns for p in tfrecs}

    # Rewriting the zip with identical content (new timestamp) must schedule nothing.
    os.utime(archive, (1e9, 2e9))
    assert job_counts(snakemake(tmp_path, "-n", "--until", "make_shards", configfile=cfg).stdout) == {}

    changed = dict(items)
    changed["img07"] = (png(255 - __import__("cv2").imdecode(
        __import__("numpy").frombuffer(items["img07"][0], "uint8"), 0)), items["img07"][1])
    write_dsb_zip(archive, changed)
    counts = job_counts(snakemake(tmp_path, "-n", "--until", "make_shards", configfile=cfg).stdout)
    assert counts == {"unzip": 1, "merge_masks": 1, "make_shards": 1}

    snakemake(tmp_path, "--until", "make_shards", configfile=cfg)
    shard = shards.shard_name(shards.shard_of("img07", 4))
    for p in tfrecs:
        moved = p.stat().st_mtime_ns != mtimes[p.name]
        assert moved == (p.name == f"shard-{shard}.tfrec"), p.name


@pytest.mark.slow
def test_a_run_whose_images_are_all_set_aside_says_why_when_training_fails(tmp_path):
    items = {f"img{i:02d}": good_item(i) for i in range(8)}
    items = {i: (image[:60], masks) for i, (image, masks) in items.items()}  # truncated: set aside when merged
    cfg = _zip_config(tmp_path, write_dsb_zip(tmp_path / "in.zip", items))
    proc = snakemake(tmp_path, "--until", "train_fold", "--keep-going", configfile=cfg, check=False)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "fold 0 has 0 training and 0 validation images; 8 were set aside, e.g. img" in text
    assert ": cannot be decoded" in text and "See results/qa/rejected.csv: fix what it says" in text


@pytest.mark.slow
def test_bad_images_are_listed_in_rejected_csv(tmp_path):
    image, masks = good_item(1)
    items = {f"img{i:02d}": good_item(i) for i in range(12)}
    items["corrupt"] = (image[:40], masks)
    items["nomasks"] = (image, [])
    archive = write_dsb_zip(tmp_path / "in.zip", items, extra={".DS_Store": b"x"})
    proc = snakemake(tmp_path, "results/qa/rejected.csv", configfile=_zip_config(tmp_path, archive))
    # The run's end names what it set aside on the console, not only in the table.
    assert "snakeseg: 2 training images set aside: see results/qa/rejected.csv" in proc.stderr
    assert "  nomasks: image without any mask in masks/; add a mask per object" in proc.stderr
    touched = snakemake(tmp_path, "results/qa/rejected.csv", "--touch", "--forcerun", "qa",
                        configfile=_zip_config(tmp_path, archive))
    assert "set aside" not in touched.stderr  # --touch sets nothing aside: no note
    rejected = pd.read_csv(tmp_path / "results" / "qa" / "rejected.csv", dtype=str, keep_default_na=False)
    by_id = dict(zip(rejected["id"], rejected["reason"]))
    assert by_id["corrupt"].startswith("corrupt/images/corrupt.png: cannot be decoded")
    assert by_id["nomasks"].startswith("image without any mask in masks/; add a mask per object, or leave it")
    assert ".DS_Store" in set(rejected["files"])
    dataset = pd.read_csv(tmp_path / "results" / "qa" / "dataset.csv")
    assert len(dataset) == 12 and not ({"corrupt", "nomasks"} & set(dataset["id"]))


def test_unsafe_zip_member_stops_the_workflow_naming_it(tmp_path):
    archive = write_dsb_zip(tmp_path / "in.zip", {f"i{i}": good_item(i) for i in range(8)},
                            extra={"../../escape.png": b"x"})
    proc = snakemake(tmp_path, "-n", configfile=_zip_config(tmp_path, archive), check=False)
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "member '../../escape.png'" in text and "unsafe path" in text and "Fix:" in text


def test_wrong_config_value_is_refused(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("image_size: 100\n")
    proc = snakemake(tmp_path, "-n", configfile=bad, check=False)
    assert proc.returncode != 0 and "100 is not a multiple of 32" in proc.stdout + proc.stderr
    bad.write_text("data:\n  bit_depth: 20\n")
    proc = snakemake(tmp_path, "-n", configfile=bad, check=False)
    assert proc.returncode != 0 and "bit_depth" in proc.stdout + proc.stderr
    bad.write_text("n_foldz: 3\n")
    proc = snakemake(tmp_path, "-n", configfile=bad, check=False)
    assert proc.returncode != 0 and "n_foldz: unknown key (did you mean n_folds?" in proc.stdout + proc.stderr
    bad.write_text("train:\n  epoch: 3\n")  # the key's place in one line, not the schema's hundreds
    proc = snakemake(tmp_path, "-n", configfile=bad, check=False)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "train.epoch: unknown key (did you mean epochs? known here: augment, batch_size," in text
    assert len(text.splitlines()) < 20, text
    bad.write_text("train:\n  patch_size: 100\n")  # a choice of schemas: what each wanted
    proc = snakemake(tmp_path, "-n", configfile=bad, check=False)
    assert "train.patch_size: 100 is none of the choices: 'auto' was expected; 100 is not a multiple of 32" in (
        proc.stdout + proc.stderr)
    bad.write_text(f"predict_input: {tmp_path / 'nowhere'}\n")  # the error names the key, not only the path
    proc = snakemake(tmp_path, "-n", configfile=bad, check=False)
    assert proc.returncode != 0 and f"config predict_input: {tmp_path / 'nowhere'} does not exist" in proc.stdout + proc.stderr


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED_DATA / "dsb2018-dev" / "stage1_train.zip").exists(),
                    reason="real DSB2018 sample ../shared/data/dsb2018-dev not present")
def test_real_dsb2018_sample_goes_through_the_data_stage(tmp_path):
    archive = SHARED_DATA / "dsb2018-dev" / "stage1_train.zip"
    snakemake(tmp_path, "--until", "make_shards", configfile=_zip_config(tmp_path, archive))
    indexes = [json.loads(p.read_text()) for p in (tmp_path / "work" / "tfrecords").glob("*.json")]
    assert sum(i["count"] for i in indexes) == 40
    assert all(not i["set_aside"] for i in indexes)
    merged = json.loads((tmp_path / "work" / "merged" / f"shard-{indexes[0]['shard']}" / "index.json").read_text())
    assert all(item["n_instances"] > 0 for item in merged["items"])


@pytest.mark.slow
def test_end_to_end_on_tiny_demo_data(tiny_demo_run, tmp_path):
    res = tiny_demo_run / "results"
    for fold in (0, 1):
        assert (res / "models" / "main" / f"fold-{fold}" / "model.h5").stat().st_size > 0
        history = pd.read_csv(res / "models" / "main" / f"fold-{fold}" / "history.csv")
        assert {"loss", "iou_score", "f1-score", "val_loss", "val_iou_score", "val_f1-score"} <= set(history.columns)
        assert len(history) == 2
        assert (res / "quantized" / "main" / f"fold-{fold}" / "model_dynamic_range.tflite").stat().st_size > 0
    per_image = pd.read_csv(res / "metrics" / "main" / "per_image.csv")
    assert len(per_image) == 12 and set(per_image["fold"]) == {0, 1}
    assert per_image["dice"].between(0, 1).all()
    pred = res / "predictions" / "main"
    masks = sorted(p.stem for f in (0, 1) for p in (pred / f"fold-{f}" / "masks").glob("*.png"))
    overlays = sorted(p.stem for f in (0, 1) for p in (pred / f"fold-{f}" / "overlays").glob("*.png"))
    assert masks == overlays == sorted(per_image["id"])
    instances = sorted(p.stem for f in (0, 1) for p in (pred / f"fold-{f}" / "instances").glob("*.png"))
    assert instances == masks and per_image["map"].between(0, 1).all() and (per_image["n_true"] > 0).all()
    summary = json.loads((res / "metrics" / "main" / "summary.json").read_text())
    assert summary["overall"]["n_images"] == 12 and set(summary["per_fold"]) == {"0", "1"}
    quant = pd.read_csv(res / "quantized" / "main" / "summary.csv")
    assert sorted(set(quant["fold"])) == [0, 1]
    assert set(quant["variant"]) == {"keras", "dynamic_range", "float16", "int8"}
    assert (quant.loc[quant["variant"] != "keras", "size_ratio"] < 1).all() and (quant["status"] == "ok").all()
    comparison = pd.read_csv(res / "metrics" / "comparison.csv")
    assert list(comparison["experiment"]) == ["main"]
    assert comparison["dice_mean"].iloc[0] == pytest.approx(per_image["dice"].mean(), abs=1e-5)
    for plot in ("training_curves", "dice_histogram", "comparison", "quantization_dice", "dataset_qa", "gallery",
                 "object_counts"):
        assert (res / "plots" / f"{plot}.png").read_bytes()[:4] == b"\x89PNG"
    work = tmp_path / "run"  # other tests copy the shared run meanwhile
    shutil.copytree(tiny_demo_run, work, symlinks=True)
    snakemake(work, "--report", str(work / "results" / "report.html"))
    html = (work / "results" / "report.html").read_text(errors="ignore")
    assert all(f"{plot}.png" in html for plot in ("training_curves", "comparison", "dataset_qa"))
    assert "trained by snakeseg in 2-fold cross-validation" in html  # the front page says what was run
    assert job_counts(snakemake(work, "-n").stdout) == {}
    # The report asks for 1000 MB plus decoding the largest image's overlay whole (7 bytes a pixel).
    report = _resources(snakemake(work, "-n", "--forcerun", "report").stdout, "report")
    largest = (per_image["height"] * per_image["width"]).max()
    assert int(report[""]["mem_mb"]) == math.ceil(1000 + 7 * largest / 1e6) > 1000
    # How jobs run is not what they learn: other threads, wall time, cache or prediction batch rerun nothing.
    faster = tmp_path / "faster.yaml"
    faster.write_text("train: {threads: 1, runtime_min: 30, cache_mb: 0}\npredict: {batch_size: 3}\n")
    assert job_counts(snakemake(work, "-n", configfile=faster).stdout) == {}
    flipless = tmp_path / "flipless.yaml"  # a key that changes the masks reruns the predictions
    flipless.write_text("predict: {tta: none}\n")
    assert job_counts(snakemake(work, "-n", configfile=flipless).stdout)["predict"] == 2
    # Nothing to deploy: no quantize job, and the comparison and report are made without one.
    no_quantize = tmp_path / "no_quantize.yaml"
    no_quantize.write_text("quantize: {variants: [], savedmodel: false}\n")
    assert job_counts(snakemake(work, "-n", configfile=no_quantize).stdout) == {"compare": 1, "report": 1, "all": 1}
    shutil.rmtree(work / "results" / "quantized")
    snakemake(work, configfile=no_quantize)
    comparison = pd.read_csv(work / "results" / "metrics" / "comparison.csv")
    assert "dice_quantized_mean" not in comparison and comparison["dice_mean"].notna().all()
    assert job_counts(snakemake(work, "-n", configfile=no_quantize).stdout) == {}


def _resources(out: str, rule: str) -> dict[str, dict[str, str]]:
    """``snakemake -n`` output -> {wildcards ("" for none): {resource: value}} of one rule's jobs."""
    jobs = {}
    for block in out.split("\n\n"):
        if f"rule {rule}:" in block:
            fields = dict(line.strip().split(": ", 1) for line in block.splitlines() if ": " in line)
            jobs[fields.get("wildcards", "")] = dict(kv.split("=", 1) for kv in fields["resources"].split(", "))
    return jobs


def test_jobs_ask_for_the_memory_of_the_images_they_hold(tmp_path):
    """Once the shards exist, train_fold's mem_mb is the model jobs' base plus its training records'
    decoded pixels (4 bytes each), at most train.cache_mb; predict's is the base plus 3x the largest
    decoded image of its shards (whole images or strips of sliding windows) and the maps of its
    instance split."""
    snakemake(tmp_path, "--until", "merge_masks")
    merged = [json.loads(p.read_text()) for p in sorted((tmp_path / "work" / "merged").glob("*/index.json"))]
    # Writing a shard's records: 1000 MB plus 7 bytes a pixel of its largest image.
    jobs = _resources(snakemake(tmp_path, "-n").stdout, "make_shards")
    assert len(jobs) == len(merged) == 4
    for m in merged:
        largest = max([i["height"] * i["width"] for i in m["items"]] + [0])
        assert int(jobs[f"shard={m['shard']}"]["mem_mb"]) == math.ceil(1000 + 7 * largest / 1e6)
    snakemake(tmp_path, "--until", "make_shards")
    indexes = [json.loads(p.read_text()) for p in sorted((tmp_path / "work" / "tfrecords").glob("*.json"))]
    small = tmp_path / "small.yaml"
    small.write_text("train: {cache_mb: 0}\n")
    train0 = {w: int(r["mem_mb"]) for w, r in _resources(snakemake(tmp_path, "-n", configfile=small).stdout,
                                                            "train_fold").items()}
    out = snakemake(tmp_path, "-n").stdout
    train = {w: int(r["mem_mb"]) for w, r in _resources(out, "train_fold").items()}
    assert set(train) == {"exp=main, fold=0", "exp=main, fold=1"}
    for fold in (0, 1):
        w = f"exp=main, fold={fold}"
        pixels = sum(i["pixels"] for i in indexes if shards.fold_of(int(i["shard"]), 2) != fold)
        assert pixels > 0 and train[w] - train0[w] == math.ceil(pixels * 4 / 1e6)
        base = train0[w]
        largest = max(i["height"] * i["width"] for m in merged if shards.fold_of(int(m["shard"]), 2) == fold
                      for i in m["items"])
        # 3x the decoded image and the network's activations on it (predicted whole); post-processing:
        # 1000 MB, the image again and, as the demo data have instances, 30 bytes a pixel for their split.
        assert int(_resources(out, "predict")[w]["mem_mb"]) == math.ceil(base + (9 + 350) * largest / 1e6)
        assert int(_resources(out, "postprocess")[w]["mem_mb"]) == math.ceil(1000 + (9 + 30) * largest / 1e6)


def test_test_set_and_new_image_jobs_ask_for_their_largest_image(tmp_path):
    """predict_test's mem_mb is the base plus 3x its shard's largest decoded image and the network's
    activations on it, as predict's; predict_new's too; their post-processing 1000 MB plus the image
    and the instance split's maps; merge_masks_test's 1000 MB plus 12 bytes a pixel of it; the new
    images' sizes read from the staged files' headers (nothing has decoded them yet)."""
    new = tmp_path / "new"
    new.mkdir()
    sizes = {"small": (40, 56), "tall": (1500, 120), "wide": (90, 2400), "square": (1000, 1000)}
    for name, (h, w) in sizes.items():
        ext = ".jpg" if name == "wide" else ".png"  # JPEG and PNG headers alike
        (new / f"{name}{ext}").write_bytes(cv2.imencode(ext, np.zeros((h, w, 3), np.uint8))[1].tobytes())
    test_sizes = {f"t{i}": (200 + 400 * i, 500) for i in range(4)}
    archive = write_dsb_zip(tmp_path / "test.zip", {i: good_item(k, size=s) for k, (i, s) in enumerate(test_sizes.items())})
    cfg = tmp_path / "use.yaml"
    cfg.write_text(f"predict_input: {new}\ntest_input: {archive}\ntrain: {{cache_mb: 0}}\npredict: {{window: 1024}}\n")
    snakemake(tmp_path, "--until", "unzip_test", configfile=cfg)
    # Merging a test shard (staged, not yet decoded): 1000 MB plus 12 bytes a pixel of its largest image.
    check_memory(_resources(snakemake(tmp_path, "-n", configfile=cfg).stdout, "merge_masks_test"), test_sizes, 1000, 12)
    snakemake(tmp_path, "--until", "unzip_new", "merge_masks_test", configfile=cfg)
    out = snakemake(tmp_path, "-n", configfile=cfg).stdout
    base = int(_resources(out, "train_fold")["exp=main, fold=0"]["mem_mb"])  # cache_mb 0: the model's alone
    # the network's activations on an image up to 2048^2 pixels; instance data: their split too
    check_memory(_resources(out, "predict_new"), sizes, base, 9, whole_bytes_per_pixel=350)
    check_memory(_resources(out, "predict_test"), test_sizes, base, 9, whole_bytes_per_pixel=350)
    check_memory(_resources(out, "postprocess_new"), sizes, 1000, 9 + 30)
    check_memory(_resources(out, "postprocess_test"), test_sizes, 1000, 9 + 30)
    # An hour plus 3 CPU-s a megapixel for each of the 2 folds' models and 4 flips, on the job's one thread.
    for rule, images in (("predict_new", sizes), ("predict_test", test_sizes)):
        for wildcards, resources in _resources(out, rule).items():
            shard = wildcards.rsplit("=", 1)[1]
            pixels = sum(h * w for i, (h, w) in images.items() if shards.shard_name(shards.shard_of(i, 4)) == shard)
            assert int(resources["runtime"]) == 60 + math.ceil(pixels / 1e6 * 3 * 4 * 2 / 60), wildcards


def check_memory(jobs, images, base, bytes_per_pixel, whole_bytes_per_pixel=0):
    """Each shard job of ``jobs`` asks for ``base`` MB plus ``bytes_per_pixel`` of its largest image
    and ``whole_bytes_per_pixel`` of its largest image up to 2048 px a side (predicted whole) or
    window of a larger one."""
    by_shard, whole = {}, {}
    for image_id, (h, w) in images.items():
        shard = shards.shard_name(shards.shard_of(image_id, 4))
        by_shard[shard] = max(by_shard.get(shard, 0), h * w)
        # larger ones: a window of predict.window (1024 here) a side, or of the image's shorter side
        whole[shard] = max(whole.get(shard, 0), h * w if max(h, w) <= 2048 else min(h, 1024) * min(w, 1024))
    assert len(by_shard) > 1 and {s for s in by_shard} <= {w.rsplit("=", 1)[1] for w in jobs}
    for wildcards, resources in jobs.items():
        shard = wildcards.rsplit("=", 1)[1]  # a shard without images: the base
        image_bytes = bytes_per_pixel * by_shard.get(shard, 0) + whole_bytes_per_pixel * whole.get(shard, 0)
        assert int(resources["mem_mb"]) == math.ceil(base + image_bytes / 1e6), wildcards



def test_data_channels_reach_every_job_that_decodes_an_image(tmp_path):
    """data.channels is passed to the data, prediction and post-processing jobs (their scripts read the
    images by it: tests/test_channels.py), and to the networks' recipe, which settings.json keeps."""
    cfg = tmp_path / "channels.yaml"
    cfg.write_text("data: {channels: [1]}\n")
    out = snakemake(tmp_path, "-n", "-p", configfile=cfg).stdout
    commands = {}
    for block in out.split("\n\n"):
        rule = next((line[5:-1] for line in block.splitlines() if line.startswith("rule ")), None)
        if rule and "Shell command:" in block:
            commands.setdefault(rule, []).append(block.split("Shell command:", 1)[1])
    for rule in ("merge_masks", "make_shards", "postprocess"):
        assert commands[rule] and all("--channels '[1]'" in c for c in commands[rule]), rule
    for rule in ("predict", "quantize", "model_settings"):
        assert commands[rule] and all('"channels": [1]' in c for c in commands[rule]), rule


def test_whole_numbers_written_as_decimals_are_integers_to_the_jobs(tmp_path):
    """JSON Schema takes 5.0 as an integer; range() in a training job would not."""
    cfg = tmp_path / "decimals.yaml"
    cfg.write_text("n_folds: 2.0\nn_shards: 4.0\ntrain: {epochs: 5.0}\n")
    out = snakemake(tmp_path, "-n", "-p", configfile=cfg).stdout
    assert job_counts(out)["train_fold"] == 2 and '"epochs": 5,' in out and "5.0" not in out
