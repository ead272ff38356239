"""Rules postprocess and postprocess_test: instance labels and contour overlays of merged shards from
their predicted masks and probabilities (rules predict, predict_test), which are linked in beside them."""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from snakeseg import atomic  # noqa: E402
from snakeseg.data.items import iter_items  # noqa: E402
from snakeseg.inference.outputs import Postprocessor, link_network_outputs, read_network_outputs  # noqa: E402
from snakeseg.workflow.cli import logged  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--predicted", required=True, help="the shards' masks/ and probabilities/ (rule predict or predict_test)")
ap.add_argument("--merged", nargs="+", required=True, help="the predicted shards (rule merge_masks)")
ap.add_argument("--raw", nargs="+", required=True, help="the same shards' staged files (rule unzip)")
ap.add_argument("--bit-depth", required=True, help="data.bit_depth: how 16-bit images are read")
ap.add_argument("--channels", default="null", help="data.channels: the image channels to read, as JSON (null: grey or RGB)")
ap.add_argument("--predict", required=True, help="the predict section's overlay_thickness and overlay_truth, as JSON")
ap.add_argument("--classes", required=True, help="foreground class names, as a JSON list")
ap.add_argument("--instances", required=True, help="the config's instances section (enabled resolved), as JSON")
ap.add_argument("--out", required=True, help="folder of masks/, probabilities/, overlays/ and instances/")
ap.add_argument("--log", required=True)
args = ap.parse_args()

with logged(args.log, "postprocess") as log:
    n_classes = len(json.loads(args.classes))
    n = 0
    with atomic.atomic_dir(args.out) as out:
        post = Postprocessor(out, json.loads(args.predict), json.loads(args.instances), n_classes)
        for item, image, truth in iter_items(args.merged, args.raw, args.bit_depth, json.loads(args.channels)):
            post.write(item["id"], image, *read_network_outputs(args.predicted, item["id"], n_classes), truth)
            n += 1
        link_network_outputs(args.predicted, out)
    log.info("%d images post-processed", n)
