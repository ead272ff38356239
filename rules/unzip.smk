# Stage 1: extract one shard's members from the input zip.
# The input is the shard's manifest (rewritten only when its members' CRC-32/size change),
# not the zip itself, so touching or moving the zip reruns nothing.
rule unzip:
    input:
        manifest=f"{WORK}/manifests/shard-{{shard}}.json",
    output:
        directory(f"{WORK}/raw/shard-{{shard}}"),
    params:
        fingerprint=lambda w: MANIFESTS[w.shard]["fingerprint"],
    log:
        "logs/unzip/shard-{shard}.log",
    benchmark:
        "benchmarks/unzip/shard-{shard}.tsv"
    resources:
        mem_mb=data_mem_mb,
        runtime=30,
    conda:
        "../envs/snakeseg.yaml"
    shell:
        "{PYTHON:q} {SCRIPTS:q}/unzip.py --archive {config[input]:q} --manifest {input.manifest:q} --out {output:q} --log {log:q}"
