# Shared set-up: resolve the input, list it, assign images to shards and write the shard
# manifests (only when their content changed), then define the default target.
import json
import os
import sys

from snakemake.exceptions import WorkflowError
from snakemake_interface_executor_plugins.settings import DeploymentMethod

sys.path.insert(0, workflow.basedir)

from snakeseg import demo, experiments, memory, plan, shards, smkhooks  # noqa: E402
from snakeseg.masks import MaskSpec  # noqa: E402
from snakeseg.errors import InputError  # noqa: E402

WORK = config["work_dir"]
# The data rules (unzip, merge_masks, make_shards: 3 jobs a shard) run their scripts as commands,
# not `script:` jobs, whose start imports snakemake.script (~0.2 s, a fifth of an average data job).
# Their Python is the conda environment's with `--sdm conda`, else the one running Snakemake.
PYTHON = "python" if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method else sys.executable
SCRIPTS = os.path.join(workflow.basedir, "scripts")
RESULTS = "results"
N_FOLDS = config["n_folds"]
FOLDS = [str(f) for f in range(N_FOLDS)]


wildcard_constraints:
    shard=r"\d{4}",
    fold=r"\d+",
    exp=r"[A-Za-z0-9_-]+",


def _plan():
    if config["n_folds"] > config["n_shards"]:
        raise InputError("config n_folds", f"is {config['n_folds']} but there are only {config['n_shards']} shards",
                         "raise n_shards or lower n_folds")
    if config.get("input"):
        archive = config["input"]
    else:
        archive = os.path.join(WORK, "demo", "stage1_train.zip")
        demo.ensure_demo_zip(archive, **config["demo"])
    result = plan.plan(archive, config["layout"], config["paired"], config["limits"], config["n_shards"],
                       config["n_folds"], f"{WORK}/manifests")
    return archive, result["shards"]


try:
    # Per shard: the fingerprint of its members and their number (the manifests are on disk).
    ARCHIVE, MANIFESTS = _plan()
except InputError as err:
    raise WorkflowError(f"snakeseg: {err}")
# Scripts read the input's path from the config, so moving the zip does not rerun anything.
config["input"] = ARCHIVE
SHARDS = sorted(MANIFESTS)
try:
    # Named model/training configurations trained on the same folds (one, "main", by default).
    # The schema is JSON, not YAML: Snakemake's validate() reads it with a pure-Python YAML parser
    # otherwise, ~0.08 s of every start.
    with open(os.path.join(workflow.basedir, "schemas/config.schema.json")) as fh:
        SCHEMA = json.load(fh)
    EXPERIMENTS = experiments.expand(config, SCHEMA)
except InputError as err:
    raise WorkflowError(f"snakeseg: {err}")
EXPS = list(EXPERIMENTS)
if config["train"]["warmup_epochs"] >= config["train"]["epochs"]:
    raise WorkflowError("snakeseg: config train.warmup_epochs must be smaller than train.epochs. "
                        "Fix: lower warmup_epochs or raise epochs")
MASK_SPEC = MaskSpec.from_config(config["masks"])
# Foreground class names; one name means a binary task (sigmoid), several a softmax over background + classes.
CLASSES = config["masks"]["classes"] or ["foreground"]
if config["masks"]["format"] == "binary" and len(CLASSES) > 1:
    raise WorkflowError("snakeseg: config masks.classes lists several classes but masks.format is binary. "
                        "Fix: set masks.format to index or channels, or list one class")
if len(CLASSES) > 1 and (config["train"]["loss"] != "cce_ignore" or config["train"]["monitor"] == "val_f1-score"):
    raise WorkflowError(f"snakeseg: config train.loss/train.monitor: {len(CLASSES)} classes need a multi-class "
                        "loss and a metric logged for it. Fix: set train.loss: cce_ignore and train.monitor: "
                        "val_iou_score (or val_loss)")


def val_shards(fold):
    return [s for s in SHARDS if shards.fold_of(int(s), N_FOLDS) == int(fold)]


def shard_files(pattern, shard_list):
    return [pattern.format(shard=s) for s in shard_list]


# Resources, sized from the config; every value can be overridden per rule from a profile
# (`set-resources: {train_fold: {mem_mb: 16000, gpu: 1}}`) or on the command line.
def model_mem_mb(wildcards, attempt):
    """Memory of a training/prediction job: TensorFlow's base plus activations of a batch."""
    pixels = config["train"]["batch_size"] * config["image_size"] ** 2
    return (2000 + pixels * 3 * 4 * 64 // 1_000_000) * attempt


def train_mem_mb(wildcards, attempt):
    """model_mem_mb plus the fold's decoded pairs that training keeps in memory (train.cache_mb)."""
    val = set(val_shards(wildcards.fold))
    n_val = sum(MANIFESTS[s]["items"] for s in val)
    n_train = sum(MANIFESTS[s]["items"] for s in SHARDS) - n_val
    train = EXPERIMENTS[wildcards.exp]["train"]
    return memory.train_job_mb(model_mem_mb(wildcards, attempt), n_train, n_val, config["image_size"],
                               train["cache_mb"], (train.get("augment") or {}).get("rot90", True))


def data_mem_mb(wildcards, attempt):
    return 1000 * attempt


# End the process as soon as the run is over, not up to 1.3 s later (snakeseg/smkhooks.py).
smkhooks.freeze_heap()


onsuccess:
    smkhooks.finish()


onerror:
    smkhooks.finish()
