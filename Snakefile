# snakeseg: images and masks in; trained, evaluated and quantized segmentation models out.
# This file only loads and validates the configuration, names the default target and includes one
# rule file per stage (rules/*.smk); the logic lives in the snakeseg package, called by scripts/.
import json
import os
import sys
import time

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

min_version("9.0")


try:  # Snakemake's own message names neither the file nor the line
    import yaml

    with open(os.path.join(workflow.basedir, "config.yaml"), encoding="utf-8") as _fh:
        yaml.safe_load(_fh)
except yaml.YAMLError as _err:
    raise WorkflowError(f"snakeseg: config.yaml is not valid YAML: {_err}")


configfile: os.path.join(workflow.basedir, "config.yaml")


sys.path.insert(0, workflow.basedir)
from snakeseg.workflow.configcheck import load_schema, schema_errors, whole_numbers

SCHEMA_PATH = os.path.join(workflow.basedir, "schemas/config.schema.json")
SCHEMA = load_schema(SCHEMA_PATH)
try:
    validate(config, SCHEMA_PATH)
except WorkflowError:  # one line per key instead of Snakemake's dump of the whole schema
    raise WorkflowError(
        "snakeseg: the configuration does not fit schemas/config.schema.json:\n  "
        + "\n  ".join(schema_errors(config, SCHEMA))
    )
whole_numbers(config, SCHEMA)  # epochs: 5.0 is valid JSON Schema, and 5 to the scripts
for _block, _key in [(config, "input"), (config, "test_input"), (config, "predict_input"), (config["assl"], "pool")]:
    if isinstance(_block.get(_key), str):
        _block[_key] = os.path.expanduser(_block[_key])  # ~/data.zip as the shell would read it


include: "rules/common.smk"


RUN_START = time.time()


onsuccess:
    if not workflow.touch:  # --touch sets nothing aside
        say_run_notes(RUN_START)


onerror:  # what was set aside is often why a later job failed (every image set aside)
    say_run_notes(RUN_START)


report: "report/workflow.rst"  # the report's front page: the data, the experiments, where to look


# The default target: everything the pipeline produces.
rule all:
    input:
        expand(f"{RESULTS}/models/{{exp}}/fold-{{fold}}/model.h5", exp=EXPS, fold=FOLDS),
        expand(f"{RESULTS}/predictions/{{exp}}/fold-{{fold}}", exp=EXPS, fold=FOLDS),
        expand(f"{RESULTS}/metrics/{{exp}}/summary.json", exp=EXPS),
        expand(f"{RESULTS}/{{kind}}/{{exp}}/settings.json", kind=["models"] + ["quantized"] * QUANTIZE_ON, exp=EXPS),
        QUANTIZED_SUMMARIES,
        f"{RESULTS}/metrics/comparison.csv",
        f"{RESULTS}/qa/rejected.csv",
        f"{RESULTS}/qa/dataset.csv",
        f"{RESULTS}/plots/training_curves.png",
        f"{RESULTS}/plots/dice_histogram.png",
        f"{RESULTS}/plots/comparison.png",
        f"{RESULTS}/plots/quantization_dice.png",
        f"{RESULTS}/plots/dataset_qa.png",
        f"{RESULTS}/plots/gallery.png",
        f"{RESULTS}/plots/object_counts.png",
        expand(
            f"{RESULTS}/inference/{{exp}}/{{out}}",
            exp=EXPS if NEW_PLAN else [],
            out=["summary.csv", "objects.csv", "overview.png", *NEW_OUTPUT_FOLDERS],
        ),
        expand(
            f"{RESULTS}/test/{{exp}}/{{out}}",
            exp=EXPS if TEST_PLAN else [],
            out=["summary.json", "gallery.png", *TEST_OUTPUT_FOLDERS],
        ),
        [f"{RESULTS}/assl/round-{ROUND}/review.csv", f"{RESULTS}/assl/rounds.csv"] if POOL_PLAN else [],


include: "rules/unzip.smk"
include: "rules/merge_masks.smk"
include: "rules/make_shards.smk"
include: "rules/train_fold.smk"
include: "rules/predict.smk"
include: "rules/metrics.smk"
include: "rules/quantize.smk"
include: "rules/report.smk"
include: "rules/predict_new.smk"
include: "rules/test_set.smk"
include: "rules/assl.smk"
