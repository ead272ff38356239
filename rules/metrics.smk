# Stage 6: per-image scores of the out-of-fold masks against the merged ground truth, per
# experiment, and the experiments side by side.
rule metrics:
    input:
        predictions=expand(f"{RESULTS}/predictions/{{{{exp}}}}/fold-{{fold}}", fold=FOLDS),
        merged=shard_files(f"{WORK}/merged/shard-{{shard}}", SHARDS),
    output:
        per_image=f"{RESULTS}/metrics/{{exp}}/per_image.csv",
        summary=f"{RESULTS}/metrics/{{exp}}/summary.json",
    log:
        "logs/metrics/{exp}.log",
    benchmark:
        "benchmarks/metrics/{exp}.tsv"
    conda:
        "../envs/snakeseg.yaml"
    resources:
        mem_mb=data_mem_mb,
        runtime=30,
    params:
        script=SCRIPTS / "metrics.py",
        classes=json.dumps(CLASSES),
        mean_iou_threshold=config["metrics"]["mean_iou_threshold"],
        min_size=instance_min_size(),
    shell:
        "python {params.script:q} --predictions {input.predictions:q} --merged {input.merged:q} "
        "--classes {params.classes:q} --mean-iou-threshold {params.mean_iou_threshold} --min-size {params.min_size} "
        "--per-image {output.per_image:q} --summary {output.summary:q} --log {log:q}"


rule compare:
    input:
        summaries=expand(f"{RESULTS}/metrics/{{exp}}/summary.json", exp=EXPS),
        quantized=QUANTIZED_SUMMARIES,
        tests=expand(f"{RESULTS}/test/{{exp}}/summary.json", exp=EXPS if TEST_PLAN else []),
    output:
        report(f"{RESULTS}/metrics/comparison.csv", caption="../report/comparison_table.rst", category="Comparison"),
    log:
        "logs/compare.log",
    conda:
        "../envs/snakeseg.yaml"
    params:
        script=SCRIPTS / "compare.py",
        models=json.dumps({name: exp["model"] for name, exp in EXPERIMENTS.items()}, sort_keys=True),
    shell:
        "python {params.script:q} --summaries {input.summaries:q} --quantized {input.quantized:q} "
        "--test-summaries {input.tests:q} --models {params.models:q} --out {output:q} --log {log:q}"


# Dataset QA: per-image properties and encoding decisions, and everything set aside, with reasons.
rule qa:
    input:
        merged=shard_files(f"{WORK}/merged/shard-{{shard}}", SHARDS),
        unassigned=local(f"{PLAN_DIR}/unassigned.json"),
    output:
        dataset=report(f"{RESULTS}/qa/dataset.csv", caption="../report/qa_dataset.rst", category="Data QA"),
        rejected=report(f"{RESULTS}/qa/rejected.csv", caption="../report/qa_rejected.rst", category="Data QA"),
        summary=f"{RESULTS}/qa/summary.json",
    log:
        "logs/qa.log",
    conda:
        "../envs/snakeseg.yaml"
    params:
        script=SCRIPTS / "qa.py",
    shell:
        "python {params.script:q} --merged {input.merged:q} --unassigned {input.unassigned:q} "
        "--dataset {output.dataset:q} --rejected {output.rejected:q} --summary {output.summary:q} --log {log:q}"
