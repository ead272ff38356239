# Active semi-supervised learning (config assl): the predictions accepted in earlier rounds are a
# training source of their own, staged, merged and sharded like the input (so a new round rebuilds
# only the shards its accepted images hash to); the pool's images are segmented by the first
# experiment's ensemble into results/assl/round-N/ for review (python -m snakeseg review ...).
from snakeseg.assl import rounds as assl_rounds

ASSL_EXP = EXPS[0]
# A round being (or done being) reviewed keeps its folder as the reviewer sees it: what the answers
# accepted stays what was shown, whatever changes upstream (rule assl_round is not defined for it).
ROUND_ANSWERS = 0
if POOL_PLAN:
    try:
        ROUND_ANSWERS = assl_rounds.answered(RESULTS, ROUND)
    except InputError as err:
        raise WorkflowError(f"snakeseg: {err}")
    if ROUND_ANSWERS:
        logger.info(
            f"snakeseg: round {ROUND} has {ROUND_ANSWERS} answer(s) in its response.csv: its folder is kept as "
            f"reviewed. Set assl.round: {ROUND + 1} to train with them (or delete that response.csv to make "
            f"round {ROUND} again)"
        )


rule unzip_accepted:
    input:
        manifest=local(f"{ACCEPTED_PLAN_DIR}/shard-{{shard}}.json"),
        archive=ancient(local(f"{WORK}/assl/accepted")),
    output:
        directory(f"{WORK}/assl/raw/shard-{{shard}}"),
    log:
        "logs/unzip_accepted/shard-{shard}.log",
    conda:
        "../envs/snakeseg.yaml"
    resources:
        mem_mb=data_mem_mb,
        runtime=30,
    params:
        script=SCRIPTS / "unzip.py",
    shell:
        "python {params.script:q} --archive {input.archive:q} --manifest {input.manifest:q} --out {output:q} --log {log:q}"


rule merge_masks_accepted:
    input:
        f"{WORK}/assl/raw/shard-{{shard}}",
    output:
        directory(f"{WORK}/assl/merged/shard-{{shard}}"),
    log:
        "logs/merge_masks_accepted/shard-{shard}.log",
    conda:
        "../envs/snakeseg.yaml"
    resources:
        mem_mb=merge_mem_mb,
        runtime=30,
    params:
        script=SCRIPTS / "merge_masks.py",
        masks=json.dumps(assl_rounds.accepted_masks_spec(CLASSES)),
    shell:
        "python {params.script:q} --raw {input:q} --out {output:q} --masks {params.masks:q} --log {log:q}"


rule make_shards_accepted:
    input:
        merged=f"{WORK}/assl/merged/shard-{{shard}}",
        raw=f"{WORK}/assl/raw/shard-{{shard}}",
    output:
        tfrecord=f"{WORK}/assl/tfrecords/shard-{{shard}}.tfrec",
        index=f"{WORK}/assl/tfrecords/shard-{{shard}}.json",
    log:
        "logs/make_shards_accepted/shard-{shard}.log",
    conda:
        "../envs/snakeseg.yaml"
    resources:
        mem_mb=shard_mem_mb,
        runtime=30,
    params:
        script=SCRIPTS / "make_shards.py",
        scale=config["data"]["scale"],
        max_tile=config["data"]["max_tile"],
        bit_depth=config["data"]["bit_depth"],
    shell:
        "python {params.script:q} --merged {input.merged:q} --raw {input.raw:q} --tfrecord {output.tfrecord:q} "
        "--index {output.index:q} --scale {params.scale} --max-tile {params.max_tile} --bit-depth {params.bit_depth} "
        "--log {log:q}"


rule unzip_pool:
    input:
        manifest=local(f"{POOL_PLAN_DIR}/shard-{{shard}}.json"),
        archive=ancient(local(POOL_INPUT or [])),
    output:
        directory(f"{WORK}/assl/pool/raw/shard-{{shard}}"),
    log:
        "logs/unzip_pool/shard-{shard}.log",
    conda:
        "../envs/snakeseg.yaml"
    resources:
        mem_mb=data_mem_mb,
        runtime=30,
    params:
        script=SCRIPTS / "unzip.py",
    shell:
        "python {params.script:q} --archive {input.archive:q} --manifest {input.manifest:q} --out {output:q} --log {log:q}"


# Only the current round is built: earlier rounds' folders are kept as they were reviewed.
rule predict_pool:
    input:
        models=expand(f"{RESULTS}/models/{ASSL_EXP}/fold-{{fold}}/model.h5", fold=FOLDS),
        raw=f"{WORK}/assl/pool/raw/shard-{{shard}}",
    output:
        directory(f"{WORK}/assl/round-{{round}}/predicted/shard-{{shard}}"),
    log:
        "logs/predict_pool/round-{round}/shard-{shard}.log",
    benchmark:
        "benchmarks/predict_pool/round-{round}/shard-{shard}.tsv"
    wildcard_constraints:
        round=str(ROUND),
    conda:
        "../envs/snakeseg.yaml"
    threads: SHARD_PREDICT_THREADS
    resources:
        mem_mb=lambda w, input, attempt: staged_predict_mem_mb(w, input, attempt, exp=ASSL_EXP),
        runtime=staged_predict_runtime,
        gpu=config["gpus"],
        batch_size=config["predict"]["batch_size"],
    params:
        script=SCRIPTS / "predict_new.py",
        recipe=prediction_recipe(ASSL_EXP),
        predict=prediction_settings(),
        classes=json.dumps(CLASSES),
        skip=accepted_in_shard,
    shell:
        "python {params.script:q} --models {input.models:q} --raw {input.raw:q} --recipe {params.recipe:q} "
        "--predict {params.predict:q} --classes {params.classes:q} --skip {params.skip:q} "
        "--threads {threads} --batch-size {resources.batch_size} --out {output:q} --log {log:q}"


# The pool's masks with overlays and the summary table the review starts from (as rule postprocess_new).
rule postprocess_pool:
    input:
        predicted=f"{WORK}/assl/round-{{round}}/predicted/shard-{{shard}}",
        raw=f"{WORK}/assl/pool/raw/shard-{{shard}}",
    output:
        directory(f"{RESULTS}/assl/round-{{round}}/shards/shard-{{shard}}"),
    log:
        "logs/postprocess_pool/round-{round}/shard-{shard}.log",
    wildcard_constraints:
        round=str(ROUND),
    conda:
        "../envs/snakeseg.yaml"
    resources:
        mem_mb=staged_postprocess_mem_mb,
        runtime=30,
    params:
        script=SCRIPTS / "postprocess_new.py",
        bit_depth=config["data"]["bit_depth"],
        channels=CHANNELS,
        predict=postprocess_settings("overlay_thickness", save_probabilities=False),
        classes=json.dumps(CLASSES),
        instances=json.dumps({"enabled": False}),
    shell:
        "python {params.script:q} --predicted {input.predicted:q} --raw {input.raw:q} --bit-depth {params.bit_depth} "
        "--channels {params.channels:q} --predict {params.predict:q} --classes {params.classes:q} "
        "--instances {params.instances:q} --out {output:q} --log {log:q}"


# The round's review folder: images, masks and overlays of every pool image not accepted before, the
# review manifest, and what the round measured. response.csv (the review) is never an output here,
# so rerunning a round's jobs never loses a decision; once it holds one, the round is not rerun.
if not ROUND_ANSWERS:

    rule assl_round:
        input:
            shards=shard_files(f"{RESULTS}/assl/round-{{{{round}}}}/shards/shard-{{shard}}", POOL_SHARDS),
            raw=shard_files(f"{WORK}/assl/pool/raw/shard-{{shard}}", POOL_SHARDS),
            metrics=f"{RESULTS}/metrics/{ASSL_EXP}/summary.json",
            accepted=shard_files(f"{WORK}/assl/tfrecords/shard-{{shard}}.json", ACCEPTED_SHARDS),
            responses=reviews_before(ROUND),
            unassigned=local(f"{POOL_PLAN_DIR}/unassigned.json"),
        output:
            images=directory(f"{RESULTS}/assl/round-{{round}}/images"),
            masks=directory(f"{RESULTS}/assl/round-{{round}}/masks"),
            overlays=directory(f"{RESULTS}/assl/round-{{round}}/overlays"),
            review=f"{RESULTS}/assl/round-{{round}}/review.csv",
            set_aside=f"{RESULTS}/assl/round-{{round}}/set_aside.csv",
            record=f"{RESULTS}/assl/round-{{round}}/round.json",
        log:
            "logs/assl_round/round-{round}.log",
        wildcard_constraints:
            round=str(ROUND),
        conda:
            "../envs/snakeseg.yaml"
        params:
            script=SCRIPTS / "assl_round.py",
            n_labelled=PLAN.n_usable,
            bit_depth=config["data"]["bit_depth"],
            channels=CHANNELS,
        shell:
            "python {params.script:q} --round {wildcards.round} --shards {input.shards:q} --raw {input.raw:q} "
            "--metrics {input.metrics:q} --accepted-indexes {input.accepted:q} --labelled {params.n_labelled} "
            "--responses {input.responses:q} --images {output.images:q} --masks {output.masks:q} --overlays {output.overlays:q} "
            "--unassigned {input.unassigned:q} --review {output.review:q} --set-aside {output.set_aside:q} "
            "--record {output.record:q} --bit-depth {params.bit_depth} --channels {params.channels:q} "
            "--log {log:q}"


# One row per round (trained on, accepted, rejected, pending, out-of-fold Dice on the hand-labelled
# images) and its plot.
rule assl_rounds:
    input:
        records=_round_records(),
        responses=reviews_before(ROUND + 1),
    output:
        table=report(f"{RESULTS}/assl/rounds.csv", caption="../report/assl_rounds.rst", category="Active learning"),
        plot=report(f"{RESULTS}/plots/assl_rounds.png", caption="../report/assl_rounds.rst", category="Active learning"),
    log:
        "logs/assl_rounds.log",
    conda:
        "../envs/snakeseg.yaml"
    params:
        script=SCRIPTS / "assl_rounds.py",
    shell:
        "python {params.script:q} --records {input.records:q} --responses {input.responses:q} --table {output.table:q} "
        "--plot {output.plot:q} --log {log:q}"
