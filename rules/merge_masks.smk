# Stage 2: one label map per image (DSB2018 instance masks merged, single masks normalised);
# unusable images are set aside, every encoding decision is recorded for the QA table.
# work/memo/merge_masks/shard-XXXX remembers each image's result (hard links, no copies), so a rerun
# after one image or mask changed decodes that image only (snakeseg.dataprep._Memo).
rule merge_masks:
    input:
        f"{WORK}/raw/shard-{{shard}}",
    output:
        directory(f"{WORK}/merged/shard-{{shard}}"),
    params:
        masks=json.dumps(config["masks"], sort_keys=True),
        memo=lambda w: f"{WORK}/memo/merge_masks/shard-{w.shard}",
    log:
        "logs/merge_masks/shard-{shard}.log",
    benchmark:
        "benchmarks/merge_masks/shard-{shard}.tsv"
    resources:
        mem_mb=data_mem_mb,
        runtime=30,
    conda:
        "../envs/snakeseg.yaml"
    shell:
        "{PYTHON:q} {SCRIPTS:q}/merge_masks.py --raw {input:q} --out {output:q} --masks {params.masks:q} --memo {params.memo:q} --log {log:q}"
