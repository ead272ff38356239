"""Rule assl_round: a round's review folder (images, masks, overlays of the pool images not accepted
before, review.csv, set_aside.csv) and what the round measured (round.json)."""
import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from snakeseg import atomic  # noqa: E402
from snakeseg.assl import rounds  # noqa: E402
from snakeseg.data.imageio import decode_image, encode_png  # noqa: E402
from snakeseg.data.staging import Pack  # noqa: E402
from snakeseg.inference.summary import set_aside  # noqa: E402
from snakeseg.tables import read_table  # noqa: E402
from snakeseg.workflow.cli import logged  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--round", type=int, required=True)
ap.add_argument("--shards", nargs="*", default=[], help="the round's pool predictions per shard (rule predict_pool)")
ap.add_argument("--raw", nargs="*", default=[], help="the same shards' staged pool images (rule unzip_pool)")
ap.add_argument("--metrics", required=True, help="the experiment's out-of-fold summary (rule metrics)")
ap.add_argument("--accepted-indexes", nargs="*", default=[], help="the accepted predictions' shard indexes")
ap.add_argument("--labelled", type=int, required=True, help="usable hand-labelled images")
ap.add_argument("--responses", nargs="*", default=[], help="earlier rounds' response.csv (their reviews)")
ap.add_argument("--unassigned", required=True, help="the pool's files that belong to no image (its plan)")
for name in ("images", "masks", "overlays", "review", "set-aside", "record"):
    ap.add_argument(f"--{name}", required=True)
ap.add_argument("--bit-depth", default="auto", help="data.bit_depth: how 16-bit images become 8-bit (auto or 9..16)")
ap.add_argument("--channels", default="null", help="data.channels: the image channels to read, as JSON (null: grey or RGB)")
ap.add_argument("--log", required=True)
args = ap.parse_args()

with logged(args.log, "assl_round") as log:
    skip = set(rounds.accepted_in(args.responses))
    summaries = [read_table(Path(d) / "summary.csv") for d in args.shards]
    review = rounds.review_rows(summaries, skip)
    wanted = set(review["id"])
    with atomic.atomic_dir(args.images) as images, atomic.atomic_dir(args.masks) as masks, \
            atomic.atomic_dir(args.overlays) as overlays:
        for shard, raw in zip(args.shards, args.raw):
            with Pack(raw) as pack:
                for image_id, entry in pack.manifest["items"].items():
                    if image_id not in wanted:
                        continue
                    source = entry["image"]["name"]
                    image = decode_image(pack.read(source), source, args.bit_depth, json.loads(args.channels))
                    atomic.write_bytes(images / f"{image_id}.png", encode_png(image))
                    shutil.copyfile(Path(shard) / "masks" / f"{image_id}.png", masks / f"{image_id}.png")
                    shutil.copyfile(Path(shard) / "overlays" / f"{image_id}.png", overlays / f"{image_id}.png")
    atomic.write_csv(args.review, review)
    aside = set_aside(args.shards, args.unassigned)
    atomic.write_csv(args.set_aside, aside)
    for row in aside.itertuples():
        log.warning("pool image set aside: %s: %s", row.id or row.files, row.reason)
    n_accepted = sum(json.loads(Path(p).read_text())["count"] for p in args.accepted_indexes)
    record = rounds.round_record(args.round, args.labelled, n_accepted, len(review),
                                 json.loads(Path(args.metrics).read_text()))
    atomic.write_json(args.record, {**record, "set_aside": len(aside)})
    log.info("round %d: trained on %d labelled + %d accepted images; %d pool images to review, %d set aside",
             args.round, args.labelled, n_accepted, len(review), len(aside))
