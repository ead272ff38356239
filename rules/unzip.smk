# Stage 1: stage one shard's files from the input zip (or folder) in one pack file.
rule unzip:
    input:
        manifest=local(f"{PLAN_DIR}/shard-{{shard}}.json"),
        archive=ancient(local(INPUT)),
    output:
        directory(f"{WORK}/raw/shard-{{shard}}"),
    log:
        "logs/unzip/shard-{shard}.log",
    benchmark:
        "benchmarks/unzip/shard-{shard}.tsv"
    conda:
        "../envs/snakeseg.yaml"
    resources:
        mem_mb=data_mem_mb,
        runtime=30,
    params:
        script=SCRIPTS / "unzip.py",
    shell:
        "python {params.script:q} --archive {input.archive:q} --manifest {input.manifest:q} --out {output:q} --log {log:q}"
