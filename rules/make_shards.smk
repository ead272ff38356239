# Stage 3: one TFRecord per shard, images and masks resized to image_size, plus a JSON index
# with the item count (training derives its steps from it without reading the data).
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
        mem_mb=data_mem_mb,
        runtime=30,
    params:
        script=SCRIPTS / "make_shards.py",
        image_size=config["image_size"],
    shell:
        "python {params.script:q} --merged {input.merged:q} --raw {input.raw:q} --tfrecord {output.tfrecord:q} "
        "--index {output.index:q} --image-size {params.image_size} --log {log:q}"
