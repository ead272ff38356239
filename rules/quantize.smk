# Stage 7: each fold's model as TFLite variants (quantize.variants, run with LiteRT) and a SavedModel;
# size, Dice on the same out-of-fold images and speed of each against the float model.
QUANTIZE = config["quantize"]
ENGINE = config["predict"]["engine"]
if ENGINE != "keras" and ENGINE not in QUANTIZE["variants"]:
    raise WorkflowError(
        f"snakeseg: config predict.engine is {ENGINE}, a variant quantize.variants "
        f"({', '.join(QUANTIZE['variants']) or 'none'}) does not make. Fix: add {ENGINE} to quantize.variants "
        "or set predict.engine to keras or one of them"
    )

# The fold models that segment test sets and new images (predict.engine): the Keras models, or the
# quantize folders holding each fold's model_<engine>.tflite.
ENSEMBLE_MODELS = expand(
    (
        f"{RESULTS}/models/{{{{exp}}}}/fold-{{fold}}/model.h5"
        if ENGINE == "keras"
        else f"{RESULTS}/quantized/{{{{exp}}}}/fold-{{fold}}"
    ),
    fold=FOLDS,
)


# One folder per fold: model_<variant>.tflite of each variant that converted (variants.csv gives
# the converter's reason for one that did not), savedmodel/, per_image.csv.
rule quantize:
    input:
        model=f"{RESULTS}/models/{{exp}}/fold-{{fold}}/model.h5",
        merged=lambda w: shard_files(f"{WORK}/merged/shard-{{shard}}", val_shards(w.fold)),
        raw=lambda w: shard_files(f"{WORK}/raw/shard-{{shard}}", val_shards(w.fold)),
        # int8 calibration: the fold's training shards only.
        tfrecords=lambda w: shard_files(
            f"{WORK}/tfrecords/shard-{{shard}}.tfrec", [s for s in SHARDS if s not in val_shards(w.fold)]
        ),
        indexes=lambda w: shard_files(
            f"{WORK}/tfrecords/shard-{{shard}}.json", [s for s in SHARDS if s not in val_shards(w.fold)]
        ),
    output:
        directory(f"{RESULTS}/quantized/{{exp}}/fold-{{fold}}"),
    log:
        "logs/quantize/{exp}/fold-{fold}.log",
    benchmark:
        "benchmarks/quantize/{exp}/fold-{fold}.tsv"
    conda:
        "../envs/snakeseg.yaml"
    threads: config["train"]["threads"]
    resources:
        # predict_mem_mb plus the converter's working memory.
        mem_mb=lambda w, input, attempt: predict_mem_mb(w, input, attempt) + 1500 * attempt,
        runtime=predict_runtime,
        batch_size=config["predict"]["batch_size"],
    params:
        script=SCRIPTS / "quantize.py",
        recipe=lambda w: prediction_recipe(w.exp),
        predict=json.dumps({k: config["predict"][k] for k in ("max_side", "overlap", "window")}, sort_keys=True),
        quantize=json.dumps(QUANTIZE, sort_keys=True),
        threshold=config["predict"]["threshold"],
        classes=json.dumps(CLASSES),
        val_shards=lambda w: ",".join(val_shards(w.fold)),
    shell:
        "python {params.script:q} --model {input.model:q} --merged {input.merged:q} --raw {input.raw:q} "
        "--tfrecords {input.tfrecords:q} --indexes {input.indexes:q} --val-shards {params.val_shards:q} "
        "--fold {wildcards.fold} --recipe {params.recipe:q} --predict {params.predict:q} --quantize {params.quantize:q} "
        "--threshold {params.threshold} --classes {params.classes:q} --threads {threads} --batch-size {resources.batch_size} --out {output:q} --log {log:q}"


# The size, Dice and speed table over the folds of one experiment.
rule quantize_summary:
    input:
        folds=expand(f"{RESULTS}/quantized/{{{{exp}}}}/fold-{{fold}}", fold=FOLDS),
    output:
        summary=f"{RESULTS}/quantized/{{exp}}/summary.csv",
        per_image=f"{RESULTS}/quantized/{{exp}}/per_image.csv",
    log:
        "logs/quantize_summary/{exp}.log",
    conda:
        "../envs/snakeseg.yaml"
    params:
        script=SCRIPTS / "quantize_summary.py",
    shell:
        "python {params.script:q} --folds {input.folds:q} --summary {output.summary:q} "
        "--all-images {output.per_image:q} --log {log:q}"
