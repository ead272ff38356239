"""Benchmark of the data stage (unzip -> merge_masks -> make_shards) against a bare Python loop.

Generates (once, cached under /tmp) a DSB2018-style zip of N synthetic 256x256 images with about
nine nucleus masks each (``snakeseg.demo.synth_image``), plus a copy in which one image's PNG bytes
differ. Then, in the same run:

* baseline: one Python process reads every member from the zip, decodes the image and each mask
  with ``cv2.imdecode`` and merges the masks (``np.maximum``): the least work that
  "decode and merge the same members" can be;
* the Snakemake path: ``snakemake --cores C --until make_shards`` on a fresh scratch directory
  (DAG planning, the unzip, merge_masks and make_shards jobs), wall time of the subprocess;
* ``snakemake -n`` on the full DAG (training and evaluation included) once the data stage is
  built, best of R;
* incremental: the zip replaced by the copy with one changed image (same ids), the wall time of
  ``snakemake --cores C --until make_shards`` as a fraction of the full build; checks that exactly
  one unzip, one merge_masks and one make_shards job ran and that no other shard's TFRecord was
  rewritten. Three such changes (changed, changed back, changed again), best of the three, as for
  the dry runs; every run is in the JSON.

The last line printed holds the headline figures as key=value pairs; the same figures and the
details go to bench/results/data_stage.json. Generation time is not part of any figure.

    .venv/bin/python bench/data_stage.py            # full size: 10,000 images, 64 shards
    .venv/bin/python bench/data_stage.py --n 300 --n-shards 8
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing as mp
import os
import resource
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import benchlib  # noqa: E402  (bench/, the script's folder)

from snakeseg.data import demo, shards  # noqa: E402
from snakeseg.workflow.jobstats import job_counts  # noqa: E402

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
DATA_RULES = ("unzip", "merge_masks", "make_shards")
TARGETS = {"snakemake_vs_bare_loop": ("<=", 1.6), "dry_run_seconds": ("<=", 3.0), "incremental_fraction": ("<=", 0.08)}
GEN_VERSION = 1  # bump when the generated data changes


# ----------------------------------------------------------------------------------------------
# Synthetic data (not timed)

def _image_id(seed: int, i: int) -> str:
    return demo._hex_id("snakeseg-bench", seed, i)


def _make_item(args: tuple[int, int, int]) -> tuple[str, bytes, list[bytes]]:
    seed, size, i = args
    rng = np.random.default_rng([seed, i])
    rgba, instances = demo.synth_image(rng, size, size)
    return _image_id(seed, i), demo._png(rgba), [demo._png(m) for m in instances]


def _altered(png: bytes) -> bytes:
    """The same image with one pixel's value changed: new PNG bytes, new CRC-32."""
    arr = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    arr[0, 0, 0] ^= 0x01
    out = cv2.imencode(".png", arr)[1].tobytes()
    assert out != png
    return out


def _write_item(zf: zipfile.ZipFile, image_id: str, image: bytes, masks: list[bytes]) -> None:
    demo._add(zf, f"{image_id}/")
    demo._add(zf, f"{image_id}/images/")
    demo._add(zf, f"{image_id}/images/{image_id}.png", image)
    demo._add(zf, f"{image_id}/masks/")
    for j, mask in enumerate(masks):
        demo._add(zf, f"{image_id}/masks/{demo._hex_id(image_id, j)}.png", mask)


def ensure_zips(cache_dir: Path, n: int, size: int, seed: int, workers: int) -> dict:
    """Original and one-image-changed zips, generated once per parameter set (byte-identical reruns)."""
    key = f"dsb-n{n}-s{size}-seed{seed}-v{GEN_VERSION}"
    original, altered, stamp = (cache_dir / f"{key}.zip", cache_dir / f"{key}-altered.zip",
                                cache_dir / f"{key}.json")
    if original.exists() and altered.exists() and stamp.exists():
        meta = json.loads(stamp.read_text())
        meta["generated_now"] = False
        return meta
    cache_dir.mkdir(parents=True, exist_ok=True)
    changed_index = n // 2
    t0 = time.perf_counter()
    n_masks = 0
    tmp_o, tmp_a = original.with_suffix(".zip.tmp"), altered.with_suffix(".zip.tmp")
    with mp.Pool(workers) as pool, zipfile.ZipFile(tmp_o, "w") as zo, zipfile.ZipFile(tmp_a, "w") as za:
        for i, (image_id, image, masks) in enumerate(
                pool.imap(_make_item, ((seed, size, i) for i in range(n)), chunksize=16)):
            n_masks += len(masks)
            _write_item(zo, image_id, image, masks)
            _write_item(za, image_id, _altered(image) if i == changed_index else image, masks)
            if i and i % 1000 == 0:
                print(f"  generated {i}/{n} images", flush=True)
    os.replace(tmp_o, original)
    os.replace(tmp_a, altered)
    meta = {"original": str(original), "altered": str(altered), "n_images": n, "n_masks": n_masks,
            "image_size": size, "seed": seed, "changed_id": _image_id(seed, changed_index),
            "zip_bytes": original.stat().st_size, "generation_seconds": round(time.perf_counter() - t0, 1)}
    stamp.write_text(json.dumps(meta, indent=1))
    meta["generated_now"] = True
    return meta


# ----------------------------------------------------------------------------------------------
# Measurements

def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def bare_loop(archive: str) -> tuple[float, float, dict]:
    """Read, decode and merge every image's members in one process; (seconds, CPU seconds, counters)."""
    t0, c0 = time.perf_counter(), time.process_time()
    n_images = n_masks = fg = 0
    with zipfile.ZipFile(archive) as zf:
        items: dict[str, list] = {}
        for info in zf.infolist():
            if info.is_dir():
                continue
            parts = info.filename.split("/")
            items.setdefault(parts[0], [None, []])
            if parts[1] == "images":
                items[parts[0]][0] = info
            else:
                items[parts[0]][1].append(info)
        for image_info, mask_infos in items.values():
            image = cv2.imdecode(np.frombuffer(zf.read(image_info), np.uint8), cv2.IMREAD_UNCHANGED)
            merged = np.zeros(image.shape[:2], np.uint8)
            for info in mask_infos:
                mask = cv2.imdecode(np.frombuffer(zf.read(info), np.uint8), cv2.IMREAD_UNCHANGED)
                np.maximum(merged, mask, out=merged)
            n_images += 1
            n_masks += len(mask_infos)
            fg += int(np.count_nonzero(merged))
    return (time.perf_counter() - t0, time.process_time() - c0,
            {"images": n_images, "masks": n_masks, "foreground_pixels": fg})


def run_snakemake(workdir: Path, args: list[str], log_name: str) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of Snakemake and all its jobs, output) of one Snakemake run."""
    cmd = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(workdir), *args]
    t0, c0 = time.perf_counter(), _children_cpu()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds, cpu = time.perf_counter() - t0, _children_cpu() - c0
    out = proc.stdout + proc.stderr
    (workdir.parent / f"{workdir.name}.{log_name}.log").write_text(" ".join(cmd) + "\n\n" + out)
    if proc.returncode != 0:
        raise SystemExit(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{out[-5000:]}")
    return seconds, cpu, out


def tfrecord_mtimes(workdir: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in sorted((workdir / "work" / "tfrecords").glob("*.tfrec"))}


def rule_profile(workdir: Path) -> dict:
    """Per rule: jobs, summed/mean/max seconds and summed CPU seconds from benchmarks/<rule>/*.tsv."""
    profile = {}
    for rule in DATA_RULES:
        secs, cpu, rss = [], [], []
        for tsv in sorted((workdir / "benchmarks" / rule).glob("*.tsv")):
            with open(tsv) as fh:
                row = next(csv.DictReader(fh, delimiter="\t"))
            secs.append(float(row["s"]))
            cpu.append(float(row.get("cpu_time") or 0) if row.get("cpu_time") not in ("NA", "-") else 0.0)
            try:
                rss.append(float(row["max_rss"]))
            except (KeyError, ValueError):
                pass
        if secs:
            profile[rule] = {"jobs": len(secs), "sum_s": round(sum(secs), 2), "mean_s": round(sum(secs) / len(secs), 3),
                             "max_s": round(max(secs), 3), "sum_cpu_s": round(sum(cpu), 2),
                             "max_rss_mb": round(max(rss), 1) if rss else None}
    total = sum(p["sum_s"] for p in profile.values())
    for p in profile.values():
        p["share_of_job_time"] = round(p["sum_s"] / total, 3) if total else None
    return profile


def shard_profile(workdir: Path, archive: Path, shard: str, top: int = 12) -> dict:
    """The three data-stage steps of one shard run in this process (no Snakemake, no job startup),
    timed step by step, with the functions that take the most time (cProfile, own time)."""
    import cProfile
    import pstats

    from snakeseg.data.merge import merge_shard
    from snakeseg.data.records import make_shard
    from snakeseg.data.staging import extract_shard

    manifest = json.loads((workdir / "work" / "plan" / f"shard-{shard}.json").read_text())
    prof_dir = workdir / "profile"
    shutil.rmtree(prof_dir, ignore_errors=True)
    raw, merged = str(prof_dir / "raw"), str(prof_dir / "merged")
    steps = {
        "unzip": lambda: extract_shard(str(archive), manifest, raw),
        "merge_masks": lambda: merge_shard(raw, merged),
        "make_shards": lambda: make_shard(merged, raw, str(prof_dir / "s.tfrec"), str(prof_dir / "s.json")),
    }
    seconds, cpu = {}, {}
    profiler = cProfile.Profile()
    for name, step in steps.items():
        t0, c0 = time.perf_counter(), time.process_time()
        profiler.enable()
        step()
        profiler.disable()
        seconds[name], cpu[name] = time.perf_counter() - t0, time.process_time() - c0
    stats = pstats.Stats(profiler)
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    total = sum(v[2] for v in stats.stats.values())
    functions = [{"function": f"{Path(k[0]).name}:{k[1]}({k[2]})", "calls": v[1], "own_s": round(v[2], 3),
                  "share": round(v[2] / total, 3)} for k, v in rows]
    n = len(manifest["items"])
    shutil.rmtree(prof_dir, ignore_errors=True)
    return {"shard": shard, "images": n,
            "seconds": {k: round(v, 3) for k, v in seconds.items()},
            "cpu_seconds": {k: round(v, 3) for k, v in cpu.items()},
            "ms_per_image": {k: round(1000 * v / max(n, 1), 2) for k, v in seconds.items()},
            "top_functions_own_time": functions}


def plan_seconds(archive: Path, n_shards: int, workdir: Path) -> dict:
    """What common.smk does at every Snakemake start (snakeseg.data.plan.plan), in this process: a
    full plan (list the zip, build the manifests, compare them with those on disk: unchanged, so none
    is written), then the same call answered from the plan cache."""
    from snakeseg.data import plan

    folder = workdir / "work" / "plan"
    (folder / plan.CACHE).unlink(missing_ok=True)
    t0 = time.perf_counter()
    full = plan.plan(str(archive), "auto", {}, {}, n_shards, str(folder))
    t1 = time.perf_counter()
    cached = plan.plan(str(archive), "auto", {}, {}, n_shards, str(folder))
    t2 = time.perf_counter()
    return {"full_plan": round(t1 - t0, 3), "cached_plan": round(t2 - t1, 3),
            "full_was_from_cache": full.cached, "second_was_from_cache": cached.cached}


def fsync_ms(directory: Path, n: int = 50, fsync: bool = True) -> float:
    """Time of one small write (+ fsync) + rename: atomic.write_bytes of a standalone file (fsync) or of
    a file inside an atomic_dir, as merge_masks writes its merged masks (fsync=False)."""
    from snakeseg import atomic

    directory.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for i in range(n):
        atomic.write_bytes(directory / f"f{i}.png", b"x" * 2000, fsync=fsync)
    ms = 1000 * (time.perf_counter() - t0) / n
    shutil.rmtree(directory, ignore_errors=True)
    return ms


def job_startup_seconds(repeats: int = 3) -> float:
    """Fixed cost of one job's script process: a Python that imports what the data scripts import."""
    code = ("import sys; sys.path.insert(0, %r); from snakeseg.data import merge; from snakeseg.workflow.cli import logged"
            % str(REPO))
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        best = min(best, time.perf_counter() - t0)
    return best


def _link_or_copy(src: str, dst: Path) -> None:
    dst.unlink(missing_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10_000, help="synthetic images (default 10000)")
    ap.add_argument("--size", type=int, default=256, help="image side in pixels, also image_size (default 256)")
    ap.add_argument("--n-shards", type=int, default=64, help="config n_shards (default 64)")
    ap.add_argument("--cores", type=int, default=2, help="snakemake --cores (default 2)")
    ap.add_argument("--dry-runs", type=int, default=3, help="dry runs, the best counts (default 3)")
    ap.add_argument("--baseline-runs", type=int, default=2, help="bare-loop runs, the best counts (default 2)")
    ap.add_argument("--seed", type=int, default=2018)
    ap.add_argument("--cache-dir", default="/tmp/snakeseg-bench/cache", help="where generated zips are kept")
    ap.add_argument("--scratch", default="/tmp/snakeseg-bench/data_stage", help="scratch parent folder")
    ap.add_argument("--keep", action="store_true", help="keep the scratch workflow directory")
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "data_stage.json"))
    args = ap.parse_args()

    info = benchlib.machine(load_key="loadavg_at_start")
    print(f"data_stage: n={args.n} size={args.size} n_shards={args.n_shards} cores={args.cores} "
          f"cpu_count={info['cpu_count']}", flush=True)
    data = ensure_zips(Path(args.cache_dir), args.n, args.size, args.seed, workers=max(1, min(2, os.cpu_count() or 1)))
    print(f"zip: {data['original']} ({data['zip_bytes'] / 1e6:.0f} MB, {data['n_masks']} masks, "
          f"{'generated in %.0f s' % data['generation_seconds'] if data['generated_now'] else 'cached'})", flush=True)

    scratch = Path(args.scratch)
    workdir = scratch / f"run-n{args.n}-shards{args.n_shards}"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    archive = workdir / "input.zip"
    _link_or_copy(data["original"], archive)
    config = ["--config", f"input={archive}", f"n_shards={args.n_shards}", f"image_size={args.size}"]

    # 1. the bare loop (best of R; the first run also warms the page cache for both contestants)
    base_runs, base_cpu = [], []
    for _ in range(max(1, args.baseline_runs)):
        seconds, cpu, counts = bare_loop(str(archive))
        base_runs.append(seconds)
        base_cpu.append(cpu)
        print(f"bare loop: {seconds:.1f} s, CPU {cpu:.1f} s ({counts['images']} images, {counts['masks']} masks)",
              flush=True)
    assert counts["images"] == args.n
    bare, bare_cpu = min(base_runs), min(base_cpu)

    # 2. the Snakemake data stage on a fresh directory
    full_s, full_cpu, full_out = run_snakemake(workdir, ["--cores", str(args.cores), "--until", "make_shards", *config], "full")
    full_counts = job_counts(full_out)
    assert full_counts == {r: args.n_shards for r in DATA_RULES}, full_counts
    n_written = sum(json.loads(p.read_text())["count"] for p in (workdir / "work" / "tfrecords").glob("*.json"))
    assert n_written == args.n, n_written
    print(f"snakemake data stage: {full_s:.1f} s ({full_s / bare:.2f} x the bare loop), CPU {full_cpu:.1f} s "
          f"({full_cpu / bare_cpu:.2f} x)", flush=True)

    # 3. dry run of the full DAG, data stage built: first without the plan cache (as after deleting
    # work/plan/plan-cache.json or changing the zip), then as every later start finds it
    (workdir / "work" / "plan" / "plan-cache.json").unlink()
    dry_cold_s, dry_cold_cpu, _ = run_snakemake(workdir, ["-n", *config], "dry-cold")
    print(f"dry run without the plan cache: {dry_cold_s:.2f} s, CPU {dry_cold_cpu:.2f} s", flush=True)
    dry_runs, dry_cpu = [], []
    for _ in range(max(1, args.dry_runs)):
        seconds, cpu, dry_out = run_snakemake(workdir, ["-n", *config], "dry")
        dry_runs.append(seconds)
        dry_cpu.append(cpu)
    dry_counts = job_counts(dry_out)
    assert not any(r in dry_counts for r in DATA_RULES), dry_counts
    print(f"dry run (full DAG): best {min(dry_runs):.2f} s of {[round(s, 2) for s in dry_runs]}, "
          f"CPU {[round(c, 2) for c in dry_cpu]}", flush=True)

    # 4. one image changed: exactly its shard's three jobs, nothing else rewritten. Three times
    # (changed, changed back, changed again: each a one-image change), the best counts, as for the
    # dry runs: one run of ~3 s moves by a second with the machine's load.
    changed_shard = f"shard-{shards.shard_name(shards.shard_of(data['changed_id'], args.n_shards))}.tfrec"
    inc_runs, inc_cpus = [], []
    for source in (data["altered"], data["original"], data["altered"]):
        before = tfrecord_mtimes(workdir)
        _link_or_copy(source, workdir / "input.zip.new")
        os.replace(workdir / "input.zip.new", archive)
        seconds, cpu, inc_out = run_snakemake(workdir, ["--cores", str(args.cores), "--until", "make_shards", *config],
                                              "incremental")
        inc_counts = job_counts(inc_out)
        assert inc_counts == {r: 1 for r in DATA_RULES}, inc_counts
        after = tfrecord_mtimes(workdir)
        rewritten = sorted(name for name in after if after[name] != before.get(name))
        assert rewritten == [changed_shard], (rewritten, changed_shard)
        inc_runs.append(seconds)
        inc_cpus.append(cpu)
        print(f"incremental: {seconds:.2f} s, CPU {cpu:.2f} s, jobs {inc_counts}, rewritten {rewritten}", flush=True)
    inc_s, inc_cpu = min(inc_runs), min(inc_cpus)

    profile = rule_profile(workdir)
    startup = job_startup_seconds()
    in_process = shard_profile(workdir, archive, changed_shard[len("shard-"):-len(".tfrec")])
    plan = plan_seconds(archive, args.n_shards, workdir)
    atomic_write_ms = fsync_ms(workdir / "fsync-test")
    atomic_write_nosync_ms = fsync_ms(workdir / "fsync-test", fsync=False)
    snakemake_startup = min(run_snakemake(workdir, ["--version"], "version")[0] for _ in range(3))
    job_sum = sum(p["sum_s"] for p in profile.values())
    per_shard = {r: p["mean_s"] for r, p in profile.items()}
    figures = {
        "snakemake_vs_bare_loop": round(full_s / bare, 2),
        "dry_run_seconds": round(min(dry_runs), 2),
        "incremental_fraction": round(inc_s / full_s, 4),
        "n_images": args.n,
        "snakemake_vs_bare_loop_cpu": round(full_cpu / bare_cpu, 2),
    }
    result = {
        "figures": figures,
        **benchlib.targets(figures, TARGETS),
        "params": {"n_images": args.n, "image_size": args.size, "n_shards": args.n_shards, "cores": args.cores,
                   "seed": args.seed, "n_masks": data["n_masks"], "masks_per_image": round(data["n_masks"] / args.n, 2),
                   "zip_bytes": data["zip_bytes"], "zip": data["original"]},
        "seconds": {
            "bare_loop_best": round(bare, 2), "bare_loop_runs": [round(s, 2) for s in base_runs],
            "snakemake_data_stage": round(full_s, 2),
            "dry_run_best": round(min(dry_runs), 2), "dry_runs": [round(s, 2) for s in dry_runs],
            "dry_run_without_plan_cache": round(dry_cold_s, 2),
            "incremental": round(inc_s, 2), "incremental_runs": [round(x, 2) for x in inc_runs],
            "job_time_sum": round(job_sum, 2),
            "job_time_sum_per_core": round(job_sum / args.cores, 2),
            "outside_jobs_estimate": round(full_s - job_sum / args.cores, 2),
            "snakemake_version_command": round(snakemake_startup, 3),
            "job_script_startup": round(startup, 3),
            "job_script_startup_total": round(startup * 3 * args.n_shards, 2),
        },
        "cpu_seconds": {
            "bare_loop_best": round(bare_cpu, 2), "snakemake_data_stage": round(full_cpu, 2),
            "snakemake_vs_bare_loop_cpu": round(full_cpu / bare_cpu, 2),
            "dry_runs": [round(c, 2) for c in dry_cpu], "incremental": round(inc_cpu, 2),
            "incremental_runs": [round(x, 2) for x in inc_cpus],
            "incremental_fraction_cpu": round(inc_cpu / full_cpu, 4),
        },
        "per_image_ms": {"bare_loop": round(1000 * bare / args.n, 3),
                         "snakemake_wall": round(1000 * full_s / args.n, 3),
                         "snakemake_job_time": round(1000 * job_sum / args.n, 3)},
        "profile_by_rule": profile,
        "one_shard_in_process": in_process,
        "plan_in_process_seconds": plan,
        "atomic_write_with_fsync_ms": round(atomic_write_ms, 2),
        "atomic_write_without_fsync_ms": round(atomic_write_nosync_ms, 2),
        "mean_seconds_per_shard": {**per_shard, "all_three": round(sum(per_shard.values()), 3),
                                   "images_per_shard": round(args.n / args.n_shards, 1)},
        "incremental_check": {"jobs": inc_counts, "rewritten_tfrecords": rewritten, "changed_id": data["changed_id"],
                              "untouched_tfrecords_unchanged": True},
        "dry_run_jobs": dry_counts,
        "notes": "Wall times of subprocesses measured in one run on the same machine; figures are ratios. "
                 "CPU seconds (user+sys, Snakemake and all its jobs via RUSAGE_CHILDREN; the bare loop's own "
                 "process time) are given too, as they are less sensitive to other load on the machine. "
                 "The bare loop is one process; Snakemake uses --cores. Generation time is excluded. "
                 "job_time_* comes from benchmarks/<rule>/*.tsv (each job's script process, startup included).",
        "machine": {**info, "loadavg_at_end": os.getloadavg()},
        "snakemake": subprocess.run([SNAKEMAKE, "--version"], capture_output=True, text=True).stdout.strip(),
        "scratch": str(workdir),
    }
    benchlib.write_result(args.out, result)
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    print("profile (sum s per rule): " + ", ".join(f"{r}={p['sum_s']}" for r, p in profile.items())
          + f"; job script startup {startup:.2f} s x {3 * args.n_shards} jobs")
    print(benchlib.headline(figures))


if __name__ == "__main__":
    main()
