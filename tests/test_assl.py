"""Active-learning rounds end to end on the demo data: round 0 predicts the pool, a review accepts some
predictions, round 1 builds only the shards those hash to and trains on more images."""
import json
import shutil

import pandas as pd
import pytest

from helpers import images_from_demo, job_counts, snakemake
from snakeseg.assl import rounds
from snakeseg.data import shards
from snakeseg.errors import InputError

pytestmark = pytest.mark.slow
TARGETS = ["results/assl/rounds.csv"]


def _config(tmp_path, pool, n):
    cfg = tmp_path / f"round{n}.yaml"
    cfg.write_text(f"assl: {{pool: {pool}, round: {n}}}\n")
    return cfg


def _review(work, n, answers):
    """What the review page writes (Deepskin's validator format)."""
    lines = ["Filename,response"] + [f"{i}.png,{a}" for i, a in answers.items()]
    (work / "results" / "assl" / f"round-{n}" / "response.csv").write_text("\n".join(lines) + "\n")


def _shards_of(ids):
    return {shards.shard_name(shards.shard_of(i, 4)) for i in ids}


def test_two_rounds_add_only_the_accepted_images(tmp_path, tiny_demo_run):
    work = tmp_path / "run"
    shutil.copytree(tiny_demo_run, work, symlinks=True)
    pool = tmp_path / "pool"
    images_from_demo(work, pool, 6, "pool")
    (pool / "broken.png").write_bytes(b"not an image")
    snakemake(work, *TARGETS, configfile=_config(tmp_path, pool, 0))
    round0 = work / "results" / "assl" / "round-0"
    review = pd.read_csv(round0 / "review.csv", dtype={"id": str})
    assert sorted(review["id"]) == [f"pool{i}" for i in range(6)]
    assert review["expected_dice"].dropna().is_monotonic_increasing  # the least sure proposals first
    for kind in ("images", "masks", "overlays"):
        assert sorted(p.stem for p in (round0 / kind).glob("*.png")) == sorted(review["id"])
    aside = pd.read_csv(round0 / "set_aside.csv", dtype=str)  # listed with the round, not only in a log
    assert list(aside["files"]) == ["broken.png"] and json.loads((round0 / "round.json").read_text())["set_aside"] == 1
    proc = snakemake(work, *TARGETS, "-n", configfile=_config(tmp_path, pool, 1), check=False)
    assert proc.returncode != 0 and "round 0 has not been reviewed" in proc.stdout + proc.stderr
    _review(work, 0, {"pool0": "yes", "pool1": "yes", "pool2": "no"})

    # Round 1: the accepted images form shards of their own; only those are staged, merged, sharded.
    cfg1 = _config(tmp_path, pool, 1)
    counts = job_counts(snakemake(work, *TARGETS, "-n", configfile=cfg1).stdout)
    touched = len(_shards_of(["pool0", "pool1"]))
    assert counts["unzip_accepted"] == counts["merge_masks_accepted"] == counts["make_shards_accepted"] == touched
    assert counts["train_fold"] == 2 and "unzip" not in counts and "merge_masks" not in counts
    snakemake(work, *TARGETS, configfile=cfg1)
    log = (work / "logs" / "train_fold" / "main" / "fold-0.log").read_text()
    assert "(2 accepted predictions)" in log
    round1 = work / "results" / "assl" / "round-1"
    assert sorted(pd.read_csv(round1 / "review.csv")["id"]) == [f"pool{i}" for i in range(2, 6)]  # not accepted
    predicted = {p.stem for p in (work / "work" / "assl" / "round-1" / "predicted").glob("shard-*/masks/*.png")}
    assert predicted == {f"pool{i}" for i in range(2, 6)}  # the accepted ones are not run through the network again
    table = pd.read_csv(work / "results" / "assl" / "rounds.csv")
    assert list(table["round"]) == [0, 1] and list(table["trained_on"]) == [12, 14]
    assert list(table[["accepted", "rejected", "pending"]].iloc[0]) == [2, 1, 3]
    assert json.loads((round0 / "round.json").read_text())["accepted_before"] == 0  # round 0 kept as it was
    # Going back to round 0 would retrain it and rewrite its reviewed folder: refused, accepted images kept.
    proc = snakemake(work, *TARGETS, "-n", configfile=_config(tmp_path, pool, 0), check=False)
    assert proc.returncode != 0 and "rounds go forward" in proc.stdout + proc.stderr
    assert len(list((work / "work" / "assl" / "accepted" / "images").glob("*.png"))) == 2

    # Round 2 after accepting one more: exactly that image's shard is rebuilt.
    _review(work, 1, {"pool3": "yes"})
    # A reviewed round stays as reviewed: a changed training seed retrains, but does not remake its proposals.
    reseeded = tmp_path / "reseeded.yaml"
    reseeded.write_text(f"assl: {{pool: {pool}, round: 1}}\ntrain: {{seed: 7}}\n")
    proc = snakemake(work, *TARGETS, "results/metrics/main/summary.json", "-n", configfile=reseeded)
    counts = job_counts(proc.stdout)
    assert counts["train_fold"] == 2 and "assl_round" not in counts and "predict_pool" not in counts
    assert "round 1 has 1 answer(s) in its response.csv: its folder is kept as reviewed" in proc.stdout + proc.stderr
    with pytest.raises(InputError, match="round 1, made from its answers, has been reviewed"):  # round 0's are spent
        rounds.check_reviewable(round0)
    rounds.check_reviewable(round1)
    counts = job_counts(snakemake(work, *TARGETS, "-n", configfile=_config(tmp_path, pool, 2)).stdout)
    assert counts["unzip_accepted"] == counts["make_shards_accepted"] == 1
    assert set(rounds.accepted_before(work / "results", 2)) == {"pool0", "pool1", "pool3"}
