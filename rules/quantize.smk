# Stage 7: each fold's model to TFLite with dynamic-range quantization; float and quantized
# Dice on the same out-of-fold images.
rule quantize:
    input:
        model=f"{RESULTS}/models/{{exp}}/fold-{{fold}}/model.h5",
        merged=lambda w: shard_files(f"{WORK}/merged/shard-{{shard}}", val_shards(w.fold)),
        raw=lambda w: shard_files(f"{WORK}/raw/shard-{{shard}}", val_shards(w.fold)),
    output:
        tflite=f"{RESULTS}/quantized/{{exp}}/fold-{{fold}}/model_dynamic_range.tflite",
        per_image=f"{RESULTS}/quantized/{{exp}}/fold-{{fold}}/per_image.csv",
    log:
        "logs/quantize/{exp}/fold-{fold}.log",
    benchmark:
        "benchmarks/quantize/{exp}/fold-{fold}.tsv"
    conda:
        "../envs/snakeseg.yaml"
    threads: config["train"]["threads"]
    resources:
        mem_mb=predict_mem_mb,
        runtime=60,
    params:
        script=SCRIPTS / "quantize.py",
        recipe=lambda w: prediction_recipe(w.exp),
        predict=json.dumps(config["predict"], sort_keys=True),
        threshold=config["predict"]["threshold"],
        classes=json.dumps(CLASSES),
    shell:
        "python {params.script:q} --model {input.model:q} --merged {input.merged:q} --raw {input.raw:q} "
        "--fold {wildcards.fold} --recipe {params.recipe:q} --predict {params.predict:q} --threshold {params.threshold} "
        "--classes {params.classes:q} --threads {threads} --tflite {output.tflite:q} "
        "--per-image {output.per_image:q} --log {log:q}"


# The size and Dice table over the folds of one experiment.
rule quantize_summary:
    input:
        models=expand(f"{RESULTS}/models/{{{{exp}}}}/fold-{{fold}}/model.h5", fold=FOLDS),
        tflite=expand(f"{RESULTS}/quantized/{{{{exp}}}}/fold-{{fold}}/model_dynamic_range.tflite", fold=FOLDS),
        per_image=expand(f"{RESULTS}/quantized/{{{{exp}}}}/fold-{{fold}}/per_image.csv", fold=FOLDS),
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
        "python {params.script:q} --models {input.models:q} --tflite {input.tflite:q} "
        "--per-image {input.per_image:q} --summary {output.summary:q} --all-images {output.per_image:q} --log {log:q}"
