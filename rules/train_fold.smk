# Stage 4: one training job per experiment and fold; fold f validates on the shards s with
# s mod n_folds == f. A job killed and rerun resumes from its last completed epoch.
rule train_fold:
    input:
        tfrecords=shard_files(f"{WORK}/tfrecords/shard-{{shard}}.tfrec", SHARDS),
        indexes=shard_files(f"{WORK}/tfrecords/shard-{{shard}}.json", SHARDS),
        # Active learning: predictions accepted in earlier rounds, training data of every fold.
        accepted=shard_files(f"{WORK}/assl/tfrecords/shard-{{shard}}.tfrec", ACCEPTED_SHARDS),
        accepted_indexes=shard_files(f"{WORK}/assl/tfrecords/shard-{{shard}}.json", ACCEPTED_SHARDS),
        # A local model.encoder_weights file: new weights under the same name retrain.
        encoder_weights=lambda w: local_weights_file(w.exp),
    output:
        model=f"{RESULTS}/models/{{exp}}/fold-{{fold}}/model.h5",
        history=f"{RESULTS}/models/{{exp}}/fold-{{fold}}/history.csv",
    log:
        "logs/train_fold/{exp}/fold-{fold}.log",
    benchmark:
        "benchmarks/train_fold/{exp}/fold-{fold}.tsv"
    conda:
        "../envs/snakeseg.yaml"
    threads: config["train"]["threads"]
    resources:
        mem_mb=train_mem_mb,
        runtime=config["train"]["runtime_min"],
        gpu=config["gpus"],
        cache_mb=lambda w: EXPERIMENTS[w.exp]["train"]["cache_mb"],
    params:
        script=SCRIPTS / "train_fold.py",
        val_shards=lambda w: ",".join(val_shards(w.fold)),
        model=lambda w: json.dumps(EXPERIMENTS[w.exp]["model"], sort_keys=True),
        train=lambda w: training_settings(w.exp),
        data=lambda w: json.dumps(EXPERIMENTS[w.exp]["data"], sort_keys=True),
        image_size=config["image_size"],
        classes=json.dumps(CLASSES),
        scratch=lambda w: f"{WORK}/train/{w.exp}/fold-{w.fold}",
    shell:
        "python {params.script:q} --tfrecords {input.tfrecords:q} --indexes {input.indexes:q} "
        "--accepted {input.accepted:q} --accepted-indexes {input.accepted_indexes:q} "
        "--fold {wildcards.fold} --val-shards {params.val_shards:q} --model {params.model:q} "
        "--train {params.train:q} --data {params.data:q} --image-size {params.image_size} --classes {params.classes:q} "
        "--scratch {params.scratch:q} --threads {threads} --cache-mb {resources.cache_mb} --out-model {output.model:q} "
        "--out-history {output.history:q} --log {log:q}"


# Beside the fold models (and their quantize folders), how they segment an image, so that the models
# folder alone can segment new images on another machine (python -m snakeseg segment), as an nnU-Net
# model folder with its plans.
rule model_settings:
    output:
        f"{RESULTS}/{{kind}}/{{exp}}/settings.json",
    log:
        "logs/model_settings/{kind}/{exp}.log",
    wildcard_constraints:
        kind="models|quantized",
    conda:
        "../envs/snakeseg.yaml"
    params:
        script=SCRIPTS / "model_settings.py",
        recipe=lambda w: prediction_recipe(w.exp),
        predict=prediction_settings("overlay_thickness", "save_probabilities", "geojson"),
        classes=json.dumps(CLASSES),
        instances=instance_settings(),
        folds=json.dumps([int(f) for f in FOLDS]),
    shell:
        "python {params.script:q} --recipe {params.recipe:q} --predict {params.predict:q} --classes {params.classes:q} "
        "--instances {params.instances:q} --folds {params.folds:q} --out {output:q} --log {log:q}"
