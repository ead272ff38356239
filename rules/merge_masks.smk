# Stage 2: merge each image's instance masks into one binary mask; unusable images are set aside.
rule merge_masks:
    input:
        f"{WORK}/raw/shard-{{shard}}",
    output:
        directory(f"{WORK}/merged/shard-{{shard}}"),
    log:
        "logs/merge_masks/shard-{shard}.log",
    benchmark:
        "benchmarks/merge_masks/shard-{shard}.tsv"
    resources:
        mem_mb=1000,
    conda:
        "../envs/snakeseg.yaml"
    script:
        "../scripts/merge_masks.py"
