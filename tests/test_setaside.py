import csv
import os
import time

from snakeseg.data.listing import JUNK_REASON
from snakeseg.workflow.setaside import run_notes


def _table(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, ["id", "files", "reason"])
        writer.writeheader()
        writer.writerows(rows)


def test_only_this_runs_tables_with_rows_are_noted(tmp_path):
    start = time.time()
    bad = [{"id": f"img{i}", "files": f"img{i}.png", "reason": "cannot be decoded"} for i in range(5)]
    bad += [{"id": "", "files": "notes.txt", "reason": "no image"}, {"id": "", "files": ".DS_Store", "reason": JUNK_REASON}]
    for experiment in ("a", "b"):  # each experiment's folder lists the same images: said once
        _table(tmp_path / "inference" / experiment / "set_aside.csv", bad)
    _table(tmp_path / "test" / "main" / "set_aside.csv", [])  # nothing set aside: no note
    old = tmp_path / "qa" / "rejected.csv"
    _table(old, bad[:1])
    os.utime(old, (start - 60, start - 60))  # written by an earlier run: not this run's news
    notes = run_notes(tmp_path, start)
    assert notes[0] == (f"snakeseg: 5 new images set aside and 1 file of no image ignored: see "
                        f"{tmp_path / 'inference' / 'a' / 'set_aside.csv'} (a reason and fix a row)")
    assert notes[1:] == ["  img0: cannot be decoded", "  img1: cannot be decoded", "  img2: cannot be decoded",
                         "  ... and 3 more"]
    assert run_notes(tmp_path, time.time() + 60) == []


def test_masks_with_stray_values_fixed_are_noted(tmp_path):
    start = time.time()
    dataset = tmp_path / "qa" / "dataset.csv"
    dataset.parent.mkdir(parents=True)
    dataset.write_text("id,stray_pixels,stray_action\na,0,\nb,12,threshold at 127.5 (half of 255)\n"
                       "c,3,threshold at 127.5 (half of 255)\n")
    assert run_notes(tmp_path, start) == [
        f"snakeseg: 2 masks had stray values, read as the QA table says (first: b, threshold at 127.5 (half of 255)): "
        f"see {dataset}; masks.strict: true sets them aside instead"]
    dataset.write_text("id,stray_pixels,stray_action\na,0,\n")
    assert run_notes(tmp_path, start) == []


def test_a_class_that_no_image_has_is_noted(tmp_path):
    import json

    from snakeseg.evaluation.metrics import summarize
    import pandas as pd

    start = time.time()
    per_image = pd.DataFrame({"fold": [0, 1], "iou": [0.5, 0.7], "dice": [0.6, 0.8], "precision": [0.5, 0.5],
                              "recall": [0.5, 0.5], "dice_circle": [0.6, 0.8], "dice_triangle": [float("nan")] * 2})
    summary = tmp_path / "metrics" / "main" / "summary.json"
    summary.parent.mkdir(parents=True)
    summary.write_text(json.dumps(summarize(per_image)))
    assert run_notes(tmp_path, start) == [
        f"snakeseg: class triangle is in no mask and no prediction of experiment main ({summary}): check "
        "masks.format and masks.classes against the QA table's mask_encoding column"]
    per_image["dice_triangle"] = [float("nan"), 0.2]
    summary.write_text(json.dumps(summarize(per_image)))
    assert run_notes(tmp_path, start) == []


def test_a_mask_without_its_image_is_not_counted_as_an_image(tmp_path):
    start = time.time()
    _table(tmp_path / "qa" / "rejected.csv", [
        {"id": "0191", "files": "labels/0191.png", "reason": "mask without an image in images/; name it after its image"},
        {"id": "nomask", "files": "images/nomask.png", "reason": "image without a mask in labels/"}])
    assert run_notes(tmp_path, start)[0] == (
        f"snakeseg: 1 training image set aside and 1 mask without an image set aside: see "
        f"{tmp_path / 'qa' / 'rejected.csv'} (a reason and fix a row)")


def test_test_masks_with_stray_values_are_noted_once(tmp_path):
    start = time.time()
    for experiment in ("a", "b"):
        dataset = tmp_path / "test" / experiment / "dataset.csv"
        dataset.parent.mkdir(parents=True)
        dataset.write_text("id,stray_pixels,stray_action\nt1,231,ignore overlapping pixels\n")
    assert run_notes(tmp_path, start) == [
        f"snakeseg: 1 test mask had stray values, read as the QA table says (first: t1, ignore overlapping pixels): "
        f"see {tmp_path / 'test' / 'a' / 'dataset.csv'}; masks.strict: true sets them aside instead"]
