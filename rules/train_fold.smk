# Stage 4: one training job per experiment and fold; fold f validates on the shards s with
# s mod n_folds == f. A job killed and rerun resumes from its last completed epoch.
rule train_fold:
    input:
        tfrecords=shard_files(f"{WORK}/tfrecords/shard-{{shard}}.tfrec", SHARDS),
        indexes=shard_files(f"{WORK}/tfrecords/shard-{{shard}}.json", SHARDS),
    output:
        model=f"{RESULTS}/models/{{exp}}/fold-{{fold}}/model.h5",
        history=f"{RESULTS}/models/{{exp}}/fold-{{fold}}/history.csv",
    params:
        val_shards=lambda w: val_shards(w.fold),
        model=lambda w: EXPERIMENTS[w.exp]["model"],
        train=lambda w: EXPERIMENTS[w.exp]["train"],
        image_size=config["image_size"],
        classes=CLASSES,
        scratch=lambda w: f"{WORK}/train/{w.exp}/fold-{w.fold}",
    threads: config["train"]["threads"]
    log:
        "logs/train_fold/{exp}/fold-{fold}.log",
    benchmark:
        "benchmarks/train_fold/{exp}/fold-{fold}.tsv"
    resources:
        mem_mb=train_mem_mb,
        runtime=config["train"]["runtime_min"],
        gpu=config["gpus"],
    conda:
        "../envs/snakeseg.yaml"
    script:
        "../scripts/train_fold.py"
