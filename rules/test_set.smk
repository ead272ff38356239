# Scoring a labelled test set (config test_input): staged and merged per shard like the training
# data, predicted by each experiment's fold ensemble, scored with the out-of-fold tables' columns.
rule unzip_test:
    input:
        manifest=local(f"{TEST_PLAN_DIR}/shard-{{shard}}.json"),
        archive=ancient(local(TEST_INPUT or [])),
    output:
        directory(f"{WORK}/test/raw/shard-{{shard}}"),
    log:
        "logs/unzip_test/shard-{shard}.log",
    conda:
        "../envs/snakeseg.yaml"
    resources:
        mem_mb=data_mem_mb,
        runtime=30,
    params:
        script=SCRIPTS / "unzip.py",
    shell:
        "python {params.script:q} --archive {input.archive:q} --manifest {input.manifest:q} --out {output:q} --log {log:q}"


rule merge_masks_test:
    input:
        f"{WORK}/test/raw/shard-{{shard}}",
    output:
        directory(f"{WORK}/test/merged/shard-{{shard}}"),
    log:
        "logs/merge_masks_test/shard-{shard}.log",
    conda:
        "../envs/snakeseg.yaml"
    resources:
        mem_mb=merge_mem_mb,
        runtime=30,
    params:
        script=SCRIPTS / "merge_masks.py",
        masks=masks_settings(),
        channels=CHANNELS,
    shell:
        "python {params.script:q} --raw {input:q} --out {output:q} --masks {params.masks:q} --channels {params.channels:q} "
        "--log {log:q}"


rule predict_test:
    input:
        # predict.engine: the fold models (keras) or their quantize folders (model_<engine>.tflite).
        models=ENSEMBLE_MODELS,
        merged=f"{WORK}/test/merged/shard-{{shard}}",
        raw=f"{WORK}/test/raw/shard-{{shard}}",
    output:
        directory(f"{WORK}/test/predicted/{{exp}}/shard-{{shard}}"),
    log:
        "logs/predict_test/{exp}/shard-{shard}.log",
    benchmark:
        "benchmarks/predict_test/{exp}/shard-{shard}.tsv"
    conda:
        "../envs/snakeseg.yaml"
    threads: SHARD_PREDICT_THREADS
    resources:
        mem_mb=predict_mem_mb,
        runtime=ensemble_runtime,
        gpu=config["gpus"],
        batch_size=config["predict"]["batch_size"],
    params:
        script=SCRIPTS / "predict.py",
        recipe=lambda w: prediction_recipe(w.exp),
        predict=prediction_settings("engine"),
        classes=json.dumps(CLASSES),
    shell:
        "python {params.script:q} --models {input.models:q} --merged {input.merged:q} --raw {input.raw:q} "
        "--recipe {params.recipe:q} --predict {params.predict:q} --classes {params.classes:q} "
        "--threads {threads} --batch-size {resources.batch_size} --out {output:q} --log {log:q}"


# Objects and overlays from the saved masks and probabilities (as rule postprocess).
rule postprocess_test:
    input:
        predicted=f"{WORK}/test/predicted/{{exp}}/shard-{{shard}}",
        merged=f"{WORK}/test/merged/shard-{{shard}}",
        raw=f"{WORK}/test/raw/shard-{{shard}}",
    output:
        directory(f"{RESULTS}/test/{{exp}}/shards/shard-{{shard}}"),
    log:
        "logs/postprocess_test/{exp}/shard-{shard}.log",
    benchmark:
        "benchmarks/postprocess_test/{exp}/shard-{shard}.tsv"
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


rule test_metrics:
    input:
        merged=shard_files(f"{WORK}/test/merged/shard-{{shard}}", TEST_SHARDS),
        predictions=shard_files(f"{RESULTS}/test/{{{{exp}}}}/shards/shard-{{shard}}", TEST_SHARDS),
        unassigned=local(f"{TEST_PLAN_DIR}/unassigned.json"),
    output:
        per_image=f"{RESULTS}/test/{{exp}}/per_image.csv",
        summary=f"{RESULTS}/test/{{exp}}/summary.json",
        set_aside=f"{RESULTS}/test/{{exp}}/set_aside.csv",
        dataset=f"{RESULTS}/test/{{exp}}/dataset.csv",
        collected=[directory(f"{RESULTS}/test/{{exp}}/{kind}") for kind in TEST_OUTPUT_FOLDERS],
    log:
        "logs/test_metrics/{exp}.log",
    conda:
        "../envs/snakeseg.yaml"
    params:
        script=SCRIPTS / "test_metrics.py",
        classes=json.dumps(CLASSES),
        mean_iou_threshold=config["metrics"]["mean_iou_threshold"],
        min_size=instance_min_size(),
        engine=config["predict"]["engine"],
    shell:
        "python {params.script:q} --merged {input.merged:q} --predictions {input.predictions:q} "
        "--classes {params.classes:q} --mean-iou-threshold {params.mean_iou_threshold} --min-size {params.min_size} "
        "--engine {params.engine} "
        "--unassigned {input.unassigned:q} --per-image {output.per_image:q} --summary {output.summary:q} "
        "--set-aside {output.set_aside:q} --dataset {output.dataset:q} --collect {output.collected:q} --log {log:q}"


# The report's look at the test set: overlays of its lowest- and highest-Dice images, as the
# out-of-fold gallery shows the cross-validation's.
rule test_gallery:
    input:
        per_image=f"{RESULTS}/test/{{exp}}/per_image.csv",
        overlays=f"{RESULTS}/test/{{exp}}/overlays",
    output:
        report(
            f"{RESULTS}/test/{{exp}}/gallery.png",
            caption="../report/test_gallery.rst",
            category="Test set",
            subcategory="{exp}",
        ),
    log:
        "logs/test_gallery/{exp}.log",
    conda:
        "../envs/snakeseg.yaml"
    params:
        script=SCRIPTS / "test_gallery.py",
        n=config["report"]["gallery"],
    shell:
        "python {params.script:q} --per-image {input.per_image:q} --overlays {input.overlays:q} "
        "--experiment {wildcards.exp} --n {params.n} --out {output:q} --log {log:q}"
