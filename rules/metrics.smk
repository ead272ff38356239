# Stage 6: per-image scores of the out-of-fold masks against the merged ground truth.
rule metrics:
    input:
        predictions=expand(f"{RESULTS}/predictions/fold-{{fold}}", fold=FOLDS),
        merged=shard_files(f"{WORK}/merged/shard-{{shard}}", SHARDS),
    output:
        per_image=f"{RESULTS}/metrics/per_image.csv",
        summary=f"{RESULTS}/metrics/summary.json",
    log:
        "logs/metrics.log",
    benchmark:
        "benchmarks/metrics.tsv"
    resources:
        mem_mb=1000,
    conda:
        "../envs/snakeseg.yaml"
    script:
        "../scripts/metrics.py"


# Images set aside anywhere on the data path, with their reason, in one table.
rule qa_rejected:
    input:
        indexes=shard_files(f"{WORK}/tfrecords/shard-{{shard}}.json", SHARDS),
        unassigned=f"{WORK}/manifests/unassigned.json",
    output:
        f"{RESULTS}/qa/rejected.csv",
    log:
        "logs/qa_rejected.log",
    conda:
        "../envs/snakeseg.yaml"
    script:
        "../scripts/qa_rejected.py"
