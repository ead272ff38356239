# Stage 5: each fold's best model on its own validation shards (out-of-fold): masks and foreground
# probabilities at the original image size, kept in the work folder ...
rule predict:
    input:
        model=f"{RESULTS}/models/{{exp}}/fold-{{fold}}/model.h5",
        merged=lambda w: shard_files(f"{WORK}/merged/shard-{{shard}}", val_shards(w.fold)),
        raw=lambda w: shard_files(f"{WORK}/raw/shard-{{shard}}", val_shards(w.fold)),
    output:
        directory(f"{WORK}/predicted/{{exp}}/fold-{{fold}}"),
    log:
        "logs/predict/{exp}/fold-{fold}.log",
    benchmark:
        "benchmarks/predict/{exp}/fold-{fold}.tsv"
    conda:
        "../envs/snakeseg.yaml"
    threads: config["train"]["threads"]
    resources:
        mem_mb=predict_mem_mb,
        runtime=predict_runtime,
        gpu=config["gpus"],
        batch_size=config["predict"]["batch_size"],
    params:
        script=SCRIPTS / "predict.py",
        recipe=lambda w: prediction_recipe(w.exp),
        # Out-of-fold prediction always runs the Keras models: predict.engine changes nothing here.
        predict=prediction_settings(),
        classes=json.dumps(CLASSES),
    shell:
        "python {params.script:q} --models {input.model:q} --merged {input.merged:q} --raw {input.raw:q} "
        "--recipe {params.recipe:q} --predict {params.predict:q} --classes {params.classes:q} "
        "--threads {threads} --batch-size {resources.batch_size} --out {output:q} --log {log:q}"


# ... then split into objects and drawn as overlays in results/, so that changing instances.* or
# predict.overlay_* reruns this cheap step, not the network (nnU-Net post-processes saved
# probabilities likewise).
rule postprocess:
    input:
        predicted=f"{WORK}/predicted/{{exp}}/fold-{{fold}}",
        merged=lambda w: shard_files(f"{WORK}/merged/shard-{{shard}}", val_shards(w.fold)),
        raw=lambda w: shard_files(f"{WORK}/raw/shard-{{shard}}", val_shards(w.fold)),
    output:
        directory(f"{RESULTS}/predictions/{{exp}}/fold-{{fold}}"),
    log:
        "logs/postprocess/{exp}/fold-{fold}.log",
    benchmark:
        "benchmarks/postprocess/{exp}/fold-{fold}.tsv"
    conda:
        "../envs/snakeseg.yaml"
    resources:
        mem_mb=postprocess_mem_mb,
        runtime=30,
    params:
        script=SCRIPTS / "postprocess.py",
        bit_depth=config["data"]["bit_depth"],
        channels=CHANNELS,
        predict=postprocess_settings("overlay_thickness", "overlay_truth"),
        classes=json.dumps(CLASSES),
        instances=instance_settings(),
    shell:
        "python {params.script:q} --predicted {input.predicted:q} --merged {input.merged:q} --raw {input.raw:q} "
        "--bit-depth {params.bit_depth} --channels {params.channels:q} --predict {params.predict:q} --classes {params.classes:q} "
        "--instances {params.instances:q} --out {output:q} --log {log:q}"
