# Stage 2: one label map per image (DSB2018 instance masks merged, single masks normalised);
# unusable images are set aside, every encoding decision is recorded for the QA table.
rule merge_masks:
    input:
        f"{WORK}/raw/shard-{{shard}}",
    output:
        directory(f"{WORK}/merged/shard-{{shard}}"),
    params:
        masks=config["masks"],
    log:
        "logs/merge_masks/shard-{shard}.log",
    benchmark:
        "benchmarks/merge_masks/shard-{shard}.tsv"
    resources:
        mem_mb=data_mem_mb,
        runtime=30,
    conda:
        "../envs/snakeseg.yaml"
    script:
        "../scripts/merge_masks.py"
