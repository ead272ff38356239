# Segmenting new images (config predict_input): staged per shard like the training data, so adding
# images reruns only their shards; each experiment's fold models predict them as one ensemble.
rule unzip_new:
    input:
        manifest=local(f"{NEW_PLAN_DIR}/shard-{{shard}}.json"),
        archive=ancient(local(NEW_INPUT or [])),
    output:
        directory(f"{WORK}/new/raw/shard-{{shard}}"),
    log:
        "logs/unzip_new/shard-{shard}.log",
    conda:
        "../envs/snakeseg.yaml"
    resources:
        mem_mb=data_mem_mb,
        runtime=30,
    params:
        script=SCRIPTS / "unzip.py",
    shell:
        "python {params.script:q} --archive {input.archive:q} --manifest {input.manifest:q} --out {output:q} --log {log:q}"


rule predict_new:
    input:
        # predict.engine: the fold models (keras) or their quantize folders (model_<engine>.tflite).
        models=ENSEMBLE_MODELS,
        raw=f"{WORK}/new/raw/shard-{{shard}}",
    output:
        directory(f"{WORK}/new/predicted/{{exp}}/shard-{{shard}}"),
    log:
        "logs/predict_new/{exp}/shard-{shard}.log",
    benchmark:
        "benchmarks/predict_new/{exp}/shard-{shard}.tsv"
    conda:
        "../envs/snakeseg.yaml"
    threads: SHARD_PREDICT_THREADS
    resources:
        mem_mb=staged_predict_mem_mb,
        runtime=staged_predict_runtime,
        gpu=config["gpus"],
        batch_size=config["predict"]["batch_size"],
    params:
        script=SCRIPTS / "predict_new.py",
        recipe=lambda w: prediction_recipe(w.exp),
        predict=prediction_settings("engine"),
        classes=json.dumps(CLASSES),
    shell:
        "python {params.script:q} --models {input.models:q} --raw {input.raw:q} --recipe {params.recipe:q} "
        "--predict {params.predict:q} --classes {params.classes:q} --threads {threads} --batch-size {resources.batch_size} --out {output:q} --log {log:q}"


# Objects, overlays, measurements and the shard's tables from the saved masks and probabilities (as
# rule postprocess): changing instances.* or predict.overlay_thickness reruns this, not the network.
rule postprocess_new:
    input:
        predicted=f"{WORK}/new/predicted/{{exp}}/shard-{{shard}}",
        raw=f"{WORK}/new/raw/shard-{{shard}}",
    output:
        directory(f"{RESULTS}/inference/{{exp}}/shards/shard-{{shard}}"),
    log:
        "logs/postprocess_new/{exp}/shard-{shard}.log",
    benchmark:
        "benchmarks/postprocess_new/{exp}/shard-{shard}.tsv"
    conda:
        "../envs/snakeseg.yaml"
    resources:
        mem_mb=staged_postprocess_mem_mb,
        runtime=30,
    params:
        script=SCRIPTS / "postprocess_new.py",
        bit_depth=config["data"]["bit_depth"],
        channels=CHANNELS,
        predict=postprocess_settings("overlay_thickness", "save_probabilities", "geojson"),
        classes=json.dumps(CLASSES),
        instances=instance_settings(),
    shell:
        "python {params.script:q} --predicted {input.predicted:q} --raw {input.raw:q} --bit-depth {params.bit_depth} "
        "--channels {params.channels:q} --predict {params.predict:q} --classes {params.classes:q} --instances {params.instances:q} --out {output:q} --log {log:q}"


# One table per experiment (id, source, shard, size, foreground fraction, connected components), one
# row per object, and every shard's masks, overlays, ... in one folder each (hard links).
rule inference_summary:
    input:
        shards=shard_files(f"{RESULTS}/inference/{{{{exp}}}}/shards/shard-{{shard}}", NEW_SHARDS),
        unassigned=local(f"{NEW_PLAN_DIR}/unassigned.json"),
    output:
        summary=report(
            f"{RESULTS}/inference/{{exp}}/summary.csv",
            caption="../report/new_images.rst",
            category="New images",
            subcategory="{exp}",
        ),
        objects=f"{RESULTS}/inference/{{exp}}/objects.csv",
        set_aside=report(
            f"{RESULTS}/inference/{{exp}}/set_aside.csv",
            caption="../report/new_images_set_aside.rst",
            category="New images",
            subcategory="{exp}",
        ),
        collected=[directory(f"{RESULTS}/inference/{{exp}}/{kind}") for kind in NEW_OUTPUT_FOLDERS],
    log:
        "logs/inference_summary/{exp}.log",
    conda:
        "../envs/snakeseg.yaml"
    params:
        script=SCRIPTS / "inference_summary.py",
    shell:
        "python {params.script:q} --shards {input.shards:q} --summary {output.summary:q} --objects {output.objects:q} "
        "--unassigned {input.unassigned:q} --set-aside {output.set_aside:q} --collect {output.collected:q} --log {log:q}"


# The report's look at the new images: overlays of those with the fewest and the most objects (a
# failed segmentation shows there first), and the distributions of counts, areas and intensities.
rule new_images_overview:
    input:
        summary=f"{RESULTS}/inference/{{exp}}/summary.csv",
        objects=f"{RESULTS}/inference/{{exp}}/objects.csv",
        overlays=f"{RESULTS}/inference/{{exp}}/overlays",
    output:
        report(
            f"{RESULTS}/inference/{{exp}}/overview.png",
            caption="../report/new_images_overview.rst",
            category="New images",
            subcategory="{exp}",
        ),
    log:
        "logs/new_images_overview/{exp}.log",
    conda:
        "../envs/snakeseg.yaml"
    params:
        script=SCRIPTS / "new_images_overview.py",
    shell:
        "python {params.script:q} --summary {input.summary:q} --objects {input.objects:q} --overlays {input.overlays:q} "
        "--experiment {wildcards.exp} --out {output:q} --log {log:q}"
