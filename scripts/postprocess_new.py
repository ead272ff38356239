"""Rule postprocess_new: one shard of new images' instance labels, overlays and tables (summary,
objects, set aside) from its predicted masks and probabilities (rule predict_new)."""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from snakeseg import atomic  # noqa: E402
from snakeseg.data.staging import Pack  # noqa: E402
from snakeseg.inference.newimages import postprocess_pack, write_tables  # noqa: E402
from snakeseg.inference.outputs import Postprocessor, link_network_outputs  # noqa: E402
from snakeseg.workflow.cli import logged  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--predicted", required=True, help="the shard's masks/, probabilities/ and set_aside.csv (rule predict_new)")
ap.add_argument("--raw", required=True, help="the shard's staged images (rule unzip_new)")
ap.add_argument("--bit-depth", required=True, help="data.bit_depth: how 16-bit images are read")
ap.add_argument("--channels", default="null", help="data.channels: the image channels to read, as JSON (null: grey or RGB)")
ap.add_argument("--predict", required=True, help="the predict section's overlay_thickness, save_probabilities and geojson, as JSON")
ap.add_argument("--classes", required=True, help="foreground class names, as a JSON list")
ap.add_argument("--instances", required=True, help="the config's instances section (enabled resolved), as JSON")
ap.add_argument("--out", required=True, help="folder of masks/, overlays/, probabilities/, instances/, geojson/, summary.csv, objects.csv and set_aside.csv")
ap.add_argument("--log", required=True)
args = ap.parse_args()

with logged(args.log, "postprocess_new") as log:
    cfg, classes = json.loads(args.predict), json.loads(args.classes)
    n_classes = len(classes)
    aside = pd.read_csv(Path(args.predicted) / "set_aside.csv", dtype=str, keep_default_na=False).to_dict("records")
    with Pack(args.raw) as pack, atomic.atomic_dir(args.out) as out:
        post = Postprocessor(out, {**cfg, "overlay_truth": False}, json.loads(args.instances), n_classes,
                             classes if cfg.get("geojson") else None)  # not for an annotation pool
        tables = postprocess_pack(pack, Path(args.predicted), post, classes, args.bit_depth, aside,
                                  json.loads(args.channels))
        link_network_outputs(args.predicted, out, cfg["save_probabilities"])
        write_tables(out, tables)
    log.info("shard %s: %d images post-processed, %d set aside", pack.manifest["shard"], len(tables["summary"]), len(aside))
