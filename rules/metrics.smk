# Stage 6: per-image scores of the out-of-fold masks against the merged ground truth, per
# experiment, and the experiments side by side.
rule metrics:
    input:
        predictions=expand(f"{RESULTS}/predictions/{{{{exp}}}}/fold-{{fold}}", fold=FOLDS),
        merged=shard_files(f"{WORK}/merged/shard-{{shard}}", SHARDS),
    output:
        per_image=f"{RESULTS}/metrics/{{exp}}/per_image.csv",
        summary=f"{RESULTS}/metrics/{{exp}}/summary.json",
    params:
        classes=CLASSES,
    log:
        "logs/metrics/{exp}.log",
    benchmark:
        "benchmarks/metrics/{exp}.tsv"
    resources:
        mem_mb=data_mem_mb,
        runtime=30,
    conda:
        "../envs/snakeseg.yaml"
    script:
        "../scripts/metrics.py"


rule compare:
    input:
        summaries=expand(f"{RESULTS}/metrics/{{exp}}/summary.json", exp=EXPS),
        quantized=expand(f"{RESULTS}/quantized/{{exp}}/summary.csv", exp=EXPS),
    output:
        report(f"{RESULTS}/metrics/comparison.csv", caption="../report/comparison_table.rst", category="Comparison"),
    params:
        experiments=EXPERIMENTS,
    log:
        "logs/compare.log",
    conda:
        "../envs/snakeseg.yaml"
    script:
        "../scripts/compare.py"


# Dataset QA: per-image properties and encoding decisions, and everything set aside, with reasons.
rule qa:
    input:
        merged=shard_files(f"{WORK}/merged/shard-{{shard}}", SHARDS),
        unassigned=f"{WORK}/manifests/unassigned.json",
    output:
        dataset=report(f"{RESULTS}/qa/dataset.csv", caption="../report/qa_dataset.rst", category="Data QA"),
        rejected=report(f"{RESULTS}/qa/rejected.csv", caption="../report/qa_rejected.rst", category="Data QA"),
        summary=f"{RESULTS}/qa/summary.json",
    log:
        "logs/qa.log",
    conda:
        "../envs/snakeseg.yaml"
    script:
        "../scripts/qa.py"
