# Stage 3: one TFRecord per shard, images and masks at their own size (rescaled by data.scale,
# tiled above data.max_tile), plus a JSON index of the records' sizes (training derives its steps,
# patch size and memory from it without reading the data).
rule make_shards:
    input:
        merged=f"{WORK}/merged/shard-{{shard}}",
        raw=f"{WORK}/raw/shard-{{shard}}",
    output:
        tfrecord=f"{WORK}/tfrecords/shard-{{shard}}.tfrec",
        index=f"{WORK}/tfrecords/shard-{{shard}}.json",
    log:
        "logs/make_shards/shard-{shard}.log",
    benchmark:
        "benchmarks/make_shards/shard-{shard}.tsv"
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
        channels=CHANNELS,
    shell:
        "python {params.script:q} --merged {input.merged:q} --raw {input.raw:q} --tfrecord {output.tfrecord:q} "
        "--index {output.index:q} --scale {params.scale} --max-tile {params.max_tile} --bit-depth {params.bit_depth} "
        "--channels {params.channels:q} --log {log:q}"
