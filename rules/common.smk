# Shared set-up: list the input, assign its images to shards and write each shard's manifest
# (work/plan/, only when its content changed: unzip reruns exactly for the shards that changed).
import functools
import json
import math
import os
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake_interface_executor_plugins.settings import DeploymentMethod

sys.path.insert(0, workflow.basedir)

from snakeseg.data import demo, listing, plan, shards  # noqa: E402
from snakeseg.errors import InputError, NoMasksFolder  # noqa: E402
from snakeseg.training.recipe import auto_loss  # noqa: E402
from snakeseg.workflow import experiments, inputlink  # noqa: E402

WORK = config["work_dir"]
# The plan's files sit on the machine running Snakemake, like the input: local inputs of the rules.
PLAN_DIR = f"{WORK}/plan"
NEW_PLAN_DIR = f"{WORK}/new/plan"
TEST_PLAN_DIR = f"{WORK}/test/plan"
POOL_PLAN_DIR = f"{WORK}/assl/pool/plan"
ACCEPTED_PLAN_DIR = f"{WORK}/assl/accepted-plan"
RESULTS = "results"
N_FOLDS = config["n_folds"]
FOLDS = [str(f) for f in range(N_FOLDS)]
# Every rule runs its script (scripts/<rule>.py) as `python SCRIPT --option value ...`. Script paths
# are Path objects, which Snakemake's params trigger ignores: moving the repository reruns nothing.
SCRIPTS = Path(workflow.basedir) / "scripts"
# Threads of a prediction job of one shard (test set, new images, annotation pool): such jobs are
# many and small, and side by side they hide each other's TensorFlow start (bench/README).
# --set-threads <rule>=N raises it.
SHARD_PREDICT_THREADS = 1


# `python` is the conda environment's with `--sdm conda`, else the interpreter running Snakemake.
envvars:
    "PATH",


if DeploymentMethod.CONDA not in workflow.deployment_settings.deployment_method:
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")


wildcard_constraints:
    shard=r"\d{4}",
    fold=r"\d+",
    exp=r"[A-Za-z0-9_-]+",


def _plan():
    if config["n_folds"] > config["n_shards"]:
        raise InputError(
            "config n_folds",
            f"is {config['n_folds']} but there are only {config['n_shards']} shards",
            "raise n_shards or lower n_folds",
        )
    archive = config.get("input")
    if not archive:
        archive = os.path.join(WORK, "demo", "stage1_train.zip")
        inputlink.check_not_replaced_by_demo(f"{WORK}/input", archive)
        demo.ensure_demo_zip(archive, config["demo"]["n_images"], config["demo"]["seed"], config["demo"]["sizes"])
    result = _plan_of("input", archive, config["layout"], config["paired"], PLAN_DIR, config["group_by"])
    plan.check_folds(result, N_FOLDS, PLAN_DIR)
    _warn(plan.group_warning(PLAN_DIR, config["group_by"]))
    return result


def _plan_of(key, path, layout, paired, plan_dir, group_by=None):
    """plan.plan of ``path`` (the config's ``key``), or an InputError naming the key when it is not there."""
    if not os.path.exists(path):
        tried = "" if os.path.isabs(os.path.expanduser(path)) else f" (looked for {os.path.abspath(path)})"
        raise InputError(
            f"config {key}",
            f"{path} does not exist{tried}",
            "check the path: a relative one is read from the working directory (snakemake --directory), "
            "not from the folder of a --configfile",
        )
    if listing.is_image_file(path):  # one image: its folder, or `segment`, which takes a file
        alone = f", or segment it alone: python -m snakeseg segment results/models/<exp> {path} <output folder>"
        alone = alone if key == "predict_input" else ""
        raise InputError(
            f"config {key}",
            f"{path} is one image file, but {key} takes a folder or zip of images",
            f"give the folder it is in, {os.path.dirname(os.path.abspath(path))}{alone}",
        )
    return plan.plan(path, layout, paired, config["limits"], config["n_shards"], plan_dir, group_by)


def say_run_notes(since):
    """The notes on what the run since ``since`` set aside or misread, on the console (onsuccess, onerror)."""
    from snakeseg.workflow.setaside import run_notes

    for line in run_notes(RESULTS, since):
        logger.warning(line)


def _warn(message):
    if message:
        logger.warning(message)


def _plan_test():
    """The plan of test_input (a labelled test set in any supported layout), sharded like the training data."""
    if not config.get("test_input"):
        return None
    try:
        result = _plan_of("test_input", config["test_input"], config["layout"], config["paired"], TEST_PLAN_DIR)
    except NoMasksFolder as err:  # most likely images without masks, given as a test set
        raise InputError(
            "config test_input",
            f"takes a labelled set, images and their masks, but {err.path}: {err.problem}",
            f"images without masks go in predict_input (segmented, not scored); for a test set, {err.fix}",
        ) from None
    plan.check_usable(result, TEST_PLAN_DIR)
    _warn(plan.overlap_warning(PLAN_DIR, TEST_PLAN_DIR, "test_input", "the test scores overstate the models"))
    return result


def _plan_assl():
    """Active learning (assl.pool): the pool's plan, and the plan of the predictions accepted before
    assl.round (a paired source of their own under work/assl/accepted/; None while there are none)."""
    if not config["assl"]["pool"]:
        return None, None
    from snakeseg.assl import rounds  # pandas: imported only when there are rounds

    rounds.check_round(RESULTS, config["assl"]["round"])  # before build_accepted rewrites work/assl/accepted
    pool = _plan_of("assl.pool", config["assl"]["pool"], "images", {}, POOL_PLAN_DIR)
    _warn(plan.overlap_warning(PLAN_DIR, POOL_PLAN_DIR, "assl.pool", "accepting them trains on each twice"))
    accepted_dir = f"{WORK}/assl/accepted"
    if not rounds.build_accepted(RESULTS, config["assl"]["round"], accepted_dir):
        return pool, None
    paired = {"images_dir": "images", "masks_dir": "masks", "mask_suffix": ""}
    return pool, plan.plan(
        accepted_dir, "paired", paired, config["limits"], config["n_shards"], ACCEPTED_PLAN_DIR, config["group_by"]
    )


def _plan_new():
    """The plan of predict_input (new images without masks), sharded like the training data."""
    if not config.get("predict_input"):
        return None
    return _plan_of("predict_input", config["predict_input"], "images", {}, NEW_PLAN_DIR)


try:
    PLAN = _plan()
    # The rules read the input through this link, so moving or renaming the zip reruns nothing.
    INPUT = inputlink.point(f"{WORK}/input", PLAN.archive)
    NEW_PLAN = _plan_new()
    TEST_PLAN = _plan_test()
    TEST_INPUT = inputlink.point(f"{WORK}/test/input", TEST_PLAN.archive) if TEST_PLAN else None
    POOL_PLAN, ACCEPTED_PLAN = _plan_assl()
    POOL_INPUT = inputlink.point(f"{WORK}/assl/pool/input", POOL_PLAN.archive) if POOL_PLAN else None
    NEW_INPUT = inputlink.point(f"{WORK}/new/input", NEW_PLAN.archive) if NEW_PLAN else None
    EXPERIMENTS = experiments.expand(config, SCHEMA)
    CLASSES = experiments.check(config)
    if config["train"]["loss"] == "auto":  # as each experiment resolved it: the report names the loss
        config["train"]["loss"] = auto_loss(len(CLASSES))
    if not config.get("input"):  # the demo's curves flatten within 10-15 epochs: keep command 1 short
        for _name, _exp in EXPERIMENTS.items():
            if _exp["train"]["epochs"] > config["demo"]["epochs"]:
                logger.info(
                    f"snakeseg: demo data (no input set): experiment {_name} trains {config['demo']['epochs']} epochs "
                    f"(demo.epochs), not its train.epochs {_exp['train']['epochs']}"
                )
            _exp["train"]["epochs"] = min(_exp["train"]["epochs"], config["demo"]["epochs"])
            experiments.check_warmup_epochs(
                f"config experiments.{_name}: " if config.get("experiments") else "config ", _exp["train"]
            )
        # A demo fold has about 32 small images: 200 int8 calibration patches would repeat each one 6 times.
        _quant = config["quantize"]
        _quant["calibration_samples"] = min(_quant["calibration_samples"], config["demo"]["calibration_samples"])
except InputError as err:
    raise WorkflowError(f"snakeseg: {err}")
SHARDS = sorted(PLAN.shards)
# Instance outputs and metrics: on for data whose masks tell objects apart (DSB2018, masks.instances).
_instances = config["instances"]["enabled"]
INSTANCES = (PLAN.layout == "dsb2018" or config["masks"]["instances"]) if _instances == "auto" else _instances
# Test, new and pool images: jobs for the shards that hold images only (shards of the training data
# are folds' units, all kept).
NEW_SHARDS = NEW_PLAN.busy_shards() if NEW_PLAN else []
TEST_SHARDS = TEST_PLAN.busy_shards() if TEST_PLAN else []
POOL_SHARDS = POOL_PLAN.busy_shards() if POOL_PLAN else []
ACCEPTED_SHARDS = sorted(s for s, v in ACCEPTED_PLAN.shards.items() if v["items"]) if ACCEPTED_PLAN else []


def prediction_folders(probabilities, geojson=False):
    """The folders a post-processing job writes per shard (predicted and made), gathered per experiment."""
    return (
        ["masks", "overlays"]
        + ["probabilities"] * bool(probabilities)
        + ["instances"] * bool(INSTANCES and len(CLASSES) == 1)
        + ["geojson"] * bool(geojson)
    )


NEW_OUTPUT_FOLDERS = prediction_folders(config["predict"]["save_probabilities"], config["predict"]["geojson"])
TEST_OUTPUT_FOLDERS = prediction_folders(True)  # rule postprocess_test always links the probabilities

# data.channels, as every rule that decodes images passes it to its script.
CHANNELS = json.dumps(config["data"]["channels"])

ROUND = config["assl"]["round"]
EXPS = list(EXPERIMENTS)
# The quantize stage runs when it makes something: a TFLite variant or a SavedModel per fold.
QUANTIZE_ON = bool(config["quantize"]["variants"]) or config["quantize"]["savedmodel"]
QUANTIZED_SUMMARIES = expand(f"{RESULTS}/quantized/{{exp}}/summary.csv", exp=EXPS if QUANTIZE_ON else [])


def val_shards(fold):
    return [s for s in SHARDS if shards.fold_of(int(s), N_FOLDS) == int(fold)]


def shard_files(pattern, shard_list):
    return [pattern.format(shard=s) for s in shard_list]


def prediction_recipe(exp):
    """How the experiment's networks see an image (snakeseg.inference.predictor.DEFAULT_RECIPE), as JSON."""
    e = EXPERIMENTS[exp]
    recipe = {
        "mode": e["train"]["mode"],
        "image_size": config["image_size"],
        "normalize": e["data"]["normalize"],
        "polarity": e["data"]["polarity"],
        "scale": config["data"]["scale"],
        "bit_depth": config["data"]["bit_depth"],
        "channels": config["data"]["channels"],
    }
    return json.dumps(recipe, sort_keys=True)


# The predict keys that change what any prediction job writes; each rule adds the ones only it uses.
# predict.batch_size says how a job runs: it reaches the jobs as a resource, so changing it (say, to
# fit a GPU's memory) reruns nothing, as train.threads.
PREDICTION_KEYS = ("threshold", "max_side", "overlap", "window", "tta", "mixed_precision")


def masks_settings():
    """The masks block as JSON (merge_masks' params), without masks.colours while it is unset: a key
    added by an upgrade must not remake every shard and retrain."""
    return json.dumps({k: v for k, v in config["masks"].items() if k != "colours" or v}, sort_keys=True)


def postprocess_settings(*keys, **fixed):
    """The predict block's ``keys`` a post-processing rule uses, and ``fixed`` values, as JSON (its params)."""
    return json.dumps({**{k: config["predict"][k] for k in keys}, **fixed}, sort_keys=True)


def local_weights_file(exp):
    """An experiment's model.encoder_weights when it is a local file (a declared input), else none."""
    weights = EXPERIMENTS[exp]["model"]["encoder_weights"]
    return [local(os.path.abspath(weights))] if weights not in (None, "imagenet") else []


def prediction_settings(*extra, **fixed):
    """PREDICTION_KEYS and ``extra`` of the predict block, and ``fixed`` values, as JSON (a prediction
    rule's params). With a TFLite ``engine`` among them, not ``mixed_precision``: LiteRT ignores it."""
    keys = PREDICTION_KEYS + extra
    if "engine" in extra and config["predict"]["engine"] != "keras":
        keys = tuple(k for k in keys if k != "mixed_precision")
    return json.dumps({**{k: config["predict"][k] for k in keys}, **fixed}, sort_keys=True)


# Keys of the train block that say how a job runs, not what it learns: changing them neither retrains
# a finished model nor resets a killed job's resume state (a wall-time kill, then more runtime_min).
RUN_ONLY_TRAIN_KEYS = ("threads", "runtime_min", "cache_mb")


def training_settings(exp):
    """The experiment's train block without RUN_ONLY_TRAIN_KEYS, as JSON (train_fold's params)."""
    train = EXPERIMENTS[exp]["train"]
    return json.dumps({k: v for k, v in train.items() if k not in RUN_ONLY_TRAIN_KEYS}, sort_keys=True)


def reviews_before(n):
    """The response.csv of each round 0..n-1 that has been reviewed."""
    files = [f"{RESULTS}/assl/round-{k}/response.csv" for k in range(n)]
    return [local(f) for f in files if os.path.exists(f)]


@functools.cache
def _accepted_by_shard():
    """{shard: sorted pool ids accepted before this round}, read from the reviews once per start."""
    from snakeseg.assl import rounds

    out = {}
    for i in sorted(rounds.accepted_before(RESULTS, ROUND)):
        out.setdefault(shards.shard_name(shards.shard_of(i, config["n_shards"])), []).append(i)
    return out


def accepted_in_shard(wildcards):
    """The pool ids of this shard accepted before this round, as JSON: predict_pool skips them."""
    return json.dumps(_accepted_by_shard().get(wildcards.shard, []))


def _round_records():
    """round.json of the current round and of every earlier one that has it."""
    files = [f"{RESULTS}/assl/round-{r}/round.json" for r in range(ROUND)]
    return [f for f in files if os.path.exists(f)] + [f"{RESULTS}/assl/round-{ROUND}/round.json"]


def instance_settings():
    """The instances block the prediction scripts need, as JSON (enabled resolved from auto); without
    instances only that, so changing instances.* reruns nothing that would not use it."""
    return json.dumps({**config["instances"], "enabled": True} if INSTANCES else {"enabled": False}, sort_keys=True)


def instance_min_size():
    """instances.min_size for the metrics jobs (mAP without splitting), 0 where there are no instances."""
    return config["instances"]["min_size"] if INSTANCES else 0


# Resources, sized from the config; every value can be overridden per rule from a profile
# (`set-resources: {train_fold: {mem_mb: 16000, gpu: 1}}`) or on the command line.
def _model_side():
    patch = config["train"]["patch_size"]
    if config["train"]["mode"] == "resize":
        return config["image_size"]
    return (512 if config["gpus"] else 128) if patch == "auto" else patch


def model_mem_mb(wildcards, attempt):
    """Memory of a training job's network: TensorFlow's base plus activations of a batch."""
    pixels = config["train"]["batch_size"] * _model_side() ** 2
    return (2000 + pixels * 3 * 4 * 64 // 1_000_000) * attempt


def train_mem_mb(wildcards, input, attempt):
    """model_mem_mb plus the decoded pairs training may keep in memory (at most train.cache_mb), from
    the shards' indexes (their pixels at native size, or the resized squares)."""
    indexes = [json.loads(Path(p).read_text()) for p in input.indexes if Path(p).exists()]
    pixels = sum(i["pixels"] for i in indexes)
    if EXPERIMENTS[wildcards.exp]["train"]["mode"] == "resize":
        pixels = sum(i["count"] for i in indexes) * config["image_size"] ** 2
    cache_mb = min(pixels * 4 / 1e6, EXPERIMENTS[wildcards.exp]["train"]["cache_mb"])
    return model_mem_mb(wildcards, attempt) + math.ceil(cache_mb)


# Bytes a job holds per pixel of its shard's largest image, measured on 16,000- and 6,000-px RGB
# images (bench/README), with a margin: merging masks, writing records, predicting (3x the decoded
# image: whole, or sliding windows stitched in strips; post-processing holds as much) and splitting
# instances (label maps).
MERGE_BYTES_PER_PIXEL, SHARD_BYTES_PER_PIXEL, PREDICT_BYTES_PER_PIXEL, INSTANCE_BYTES_PER_PIXEL = 12, 7, 9, 30
# The network's activations on an image predicted whole (native mode, up to predict.max_side): 340
# bytes a pixel measured in float32 (Unet resnet18, three fold models, flips), beyond model_mem_mb.
WHOLE_IMAGE_BYTES_PER_PIXEL = 350
# The report's gallery decoding an overlay before shrinking it (6 measured on a 6,000-px overlay).
REPORT_BYTES_PER_PIXEL = 7


def predict_mem_mb(wildcards, input, attempt):
    """model_mem_mb plus what predicting the largest image of the job's merged shards takes."""
    return _prediction_mb(wildcards, attempt, merged_sizes(input.merged), wildcards.exp)


def staged_predict_mem_mb(wildcards, input, attempt, exp=None):
    """predict_mem_mb for a shard of images without masks (new images; an annotation pool: ``exp``)."""
    return _prediction_mb(wildcards, attempt, staged_sizes(input.raw), exp or wildcards.exp)


def _prediction_mb(wildcards, attempt, sizes, exp):
    whole = 0  # pixels of the largest image or window the network takes in one pass (after data.scale)
    if EXPERIMENTS[exp]["train"]["mode"] == "native":
        scale, side = config["data"]["scale"], config["predict"]["max_side"]
        scaled = [(h * scale, w * scale) for h, w in sizes]
        whole = _largest([(h, w) for h, w in scaled if max(h, w) <= side])
        window = config["predict"]["window"]
        if window != "patch":  # a larger image's windows (a short side: a window of that side)
            windows = [(min(h, window), min(w, window)) for h, w in scaled if max(h, w) > side]
            whole = max(whole, _largest(windows))
    activations_mb = WHOLE_IMAGE_BYTES_PER_PIXEL * whole / 1e6 * attempt  # already at the rescaled size
    return _with_image_mb(
        model_mem_mb(wildcards, attempt) + activations_mb, PREDICT_BYTES_PER_PIXEL * _largest(sizes), attempt
    )


# CPU seconds a model pass takes per megapixel of images (after data.scale): about 3 with windows of
# the training patch on a busy 2-core machine (bench/README), a safe bound for larger windows.
PREDICT_CPU_S_PER_MEGAPIXEL = 3


def predict_runtime(wildcards, input, threads, attempt):
    """Minutes for one fold's model on the job's merged shards: an hour, plus what their pixels take."""
    return _prediction_runtime(merged_sizes(input.merged), 1, threads, attempt)


def ensemble_runtime(wildcards, input, threads, attempt):
    """predict_runtime for every fold's model (a test set)."""
    return _prediction_runtime(merged_sizes(input.merged), N_FOLDS, threads, attempt)


def staged_predict_runtime(wildcards, input, threads, attempt):
    """ensemble_runtime for a shard of images without masks (new images, an annotation pool)."""
    return _prediction_runtime(staged_sizes(input.raw), N_FOLDS, threads, attempt)


def _prediction_runtime(sizes, models, threads, attempt):
    from snakeseg.inference.windows import TTA

    megapixels = sum(h * w for h, w in sizes) * config["data"]["scale"] ** 2 / 1e6
    passes = models * len(TTA[config["predict"]["tta"]])
    return attempt * (60 + math.ceil(megapixels * passes * PREDICT_CPU_S_PER_MEGAPIXEL / 60 / max(1, threads)))


def postprocess_mem_mb(wildcards, input, attempt):
    """data_mem_mb plus holding the largest image of the job's merged shards with its mask, overlay
    and, when the outputs have instances, their split."""
    return _postprocess_mb(attempt, merged_sizes(input.merged))


def staged_postprocess_mem_mb(wildcards, input, attempt):
    """postprocess_mem_mb for a shard of new images (sizes from the staged files' headers)."""
    return _postprocess_mb(attempt, staged_sizes(input.raw))


def _postprocess_mb(attempt, sizes):
    per_pixel = PREDICT_BYTES_PER_PIXEL + INSTANCE_BYTES_PER_PIXEL * bool(INSTANCES and len(CLASSES) == 1)
    return _with_image_mb(data_mem_mb(None, attempt), per_pixel * _largest(sizes), attempt)


def report_mem_mb(wildcards, input, attempt):
    """data_mem_mb plus decoding the largest overlay the report's gallery may show (its image's size
    from the per-image tables): a slide's overlay is decoded whole before it is shrunk."""
    import csv

    largest = 0
    for table in input.per_image:
        if Path(table).exists():
            with open(table, newline="") as fh:
                largest = max([largest] + [int(r["height"]) * int(r["width"]) for r in csv.DictReader(fh)])
    return _with_image_mb(data_mem_mb(wildcards, attempt), REPORT_BYTES_PER_PIXEL * largest, attempt)


def merge_mem_mb(wildcards, input, attempt):
    """data_mem_mb plus what merging the staged shard's largest image takes."""
    pixels = _largest(staged_sizes(input[0]))
    return _with_image_mb(data_mem_mb(wildcards, attempt), MERGE_BYTES_PER_PIXEL * pixels, attempt)


def shard_mem_mb(wildcards, input, attempt):
    """data_mem_mb plus what writing the merged shard's largest image as records takes."""
    pixels = _largest(merged_sizes(input.merged))
    return _with_image_mb(data_mem_mb(wildcards, attempt), SHARD_BYTES_PER_PIXEL * pixels, attempt)


def merged_sizes(folders):
    """(height, width) of every image in merged shard folders (their index.json); none before they exist."""
    sizes = []
    for folder in [folders] if isinstance(folders, str) else folders:
        index = Path(folder) / "index.json"
        if index.exists():
            sizes += [(i["height"], i["width"]) for i in json.loads(index.read_text())["items"]]
    return sizes


def staged_sizes(raw_dir):
    """(height, width) of every image staged in ``raw_dir``, read from the files' headers: nothing
    has decoded them yet (snakeseg.data.headers); none before the folder exists."""
    from snakeseg.data.headers import image_size
    from snakeseg.data.staging import Pack

    sizes = []
    if (Path(raw_dir) / "manifest.json").exists():
        with Pack(raw_dir) as pack:
            for entry in pack.manifest["items"].values():
                with pack.open(entry["image"]["name"]) as stream:
                    sizes.append(image_size(stream) or (0, 0))
    return sizes


def _largest(sizes):
    """Pixels of the largest of ``sizes``; 0 for none."""
    return max((h * w for h, w in sizes), default=0)


def _with_image_mb(base_mb, image_bytes, attempt):
    """base_mb plus ``image_bytes`` (at the data's own scale; data.scale above 1 enlarges it), in MB."""
    return math.ceil(base_mb + image_bytes * max(1, config["data"]["scale"]) ** 2 / 1e6 * attempt)


def data_mem_mb(wildcards, attempt):
    return 1000 * attempt
