# Stage 2: one label map per image (DSB2018 instance masks merged, single masks normalised);
# unusable images are set aside, every encoding decision is recorded for the QA table.
rule merge_masks:
    input:
        f"{WORK}/raw/shard-{{shard}}",
    output:
        directory(f"{WORK}/merged/shard-{{shard}}"),
    log:
        "logs/merge_masks/shard-{shard}.log",
    benchmark:
        "benchmarks/merge_masks/shard-{shard}.tsv"
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
