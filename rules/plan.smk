# Stage 0: the plan's files. A shard's manifest lists its images and their files (sizes, CRC-32s);
# it is written again only when the shard's fingerprint (a parameter) changes, so a changed image
# reruns its own shard and a touched zip reruns nothing.
# run: writes the plan Snakemake made at start-up; a script would list the input again for each shard.
localrules:
    manifest,
    unassigned,


rule manifest:
    input:
        ancient(local(INPUT)),
    output:
        f"{WORK}/manifests/shard-{{shard}}.json",
    log:
        "logs/manifest/shard-{shard}.log",
    params:
        fingerprint=lambda w: PLAN.shards[w.shard]["fingerprint"],
    run:
        plan.write_json(output[0], PLAN.manifest(wildcards.shard), log[0])


# The input's files that belong to no image (operating-system junk, files outside the layout).
rule unassigned:
    input:
        ancient(local(INPUT)),
    output:
        f"{WORK}/manifests/unassigned.json",
    log:
        "logs/manifest/unassigned.log",
    params:
        fingerprint=PLAN.unassigned_fingerprint,
    run:
        plan.write_json(output[0], PLAN.unassigned(), log[0])
