"""Command line: ``python -m snakeseg review results/assl/round-N [--host H] [--port P] [--responses FILE]``,
``python -m snakeseg demo-pool FOLDER`` (unannotated demo images for active-learning rounds),
``python -m snakeseg rle-masks CSV IMAGES OUT`` (run-length-encoded masks as mask images),
``python -m snakeseg geojson-masks GEOJSON IMAGES OUT`` (QuPath's polygons as mask images) and
``python -m snakeseg segment MODELS INPUT OUT`` (new images segmented by a models folder alone)."""

from __future__ import annotations

import argparse
import os
import sys

from .errors import InputError


def _rle_masks(args) -> int:
    from .data.rle import write_masks

    try:
        done = write_masks(args.csv, args.images, args.out, args.order, args.id_column, args.rle_column)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{len(done['binary'])} binary masks and {len(done['objects'])} object-id masks (several rows an image: "
          f"set masks.instances: true) written to {args.out}, runs read "
          + ("left to right, then top to bottom (--order C)" if done["order"] == "C"
             else "top to bottom, then left to right (--order F)")
          + (": if the masks look transposed or striped, run again with the other" if args.order == "auto" else ""))
    _print_left_out(done, {"no_image": "ids without an image", "no_rows": "images without a row (no mask written)"})
    return 0


def _print_left_out(done: dict, lists: dict[str, str]) -> None:
    """One line per non-empty list of ``done`` that ``lists`` names: its count, what it is, its first ten."""
    for key, what in lists.items():
        if done[key]:
            print(f"{len(done[key])} {what}: {' '.join(done[key][:10])}{' ...' if len(done[key]) > 10 else ''}")


def _geojson_masks(args) -> int:
    from .data.polygons import write_masks

    classes = args.classes.split(",") if args.classes else None
    try:
        done = write_masks(args.geojson, args.images, args.out, classes, args.nuclei)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if classes:
        print(f"{len(done['classes'])} class-index masks written to {args.out} (set masks.format: index and "
              f"masks.classes: [{', '.join(classes)}])")
    else:
        print(f"{len(done['binary'])} binary masks and {len(done['objects'])} object-id masks (several objects an "
              f"image: set masks.instances: true) written to {args.out}")
    _print_left_out(done, {"no_image": "GeoJSON files without an image",
                           "no_geojson": "images without a GeoJSON file (no mask written)"})
    for what, n in done["skipped"].items():
        print(f"{n} features left out: {what}")
    return 0


def _segment(args) -> int:
    import logging

    from .inference.newimages import segment_folder

    logging.basicConfig(level=logging.INFO, format="%(message)s")  # a line per image on stderr
    try:
        tables = segment_folder(args.models, args.input, args.out, args.tta, args.threads, args.batch_size,
                                args.engine)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    objects = sum(len(table) for table in tables["objects"])
    n = len(tables["summary"])
    print(f"{n} image{'s' * (n != 1)} segmented ({objects} objects), {len(tables['aside'])} set aside: {args.out}")
    if not n:  # a script running this on a batch must see that nothing came out
        print(f"error: no image could be segmented; the reasons are in {args.out}/set_aside.csv", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m snakeseg",
                                     description="snakeseg commands (the workflow itself runs with snakemake)")
    commands = parser.add_subparsers(dest="command", required=True)
    review = commands.add_parser("review", help="review a round's predictions in a local page (yes/no per image)")
    review.add_argument("round_dir", help="the round folder, e.g. results/assl/round-1")
    review.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only)")
    review.add_argument("--port", type=int, default=8765, help="port (default 8765; 0: any free port)")
    review.add_argument("--responses", metavar="FILE",
                        help="instead of serving: import a response CSV (Filename,response) made elsewhere, then exit")
    pool = commands.add_parser("demo-pool", help="write unannotated demo images to try active-learning rounds")
    pool.add_argument("folder", help="the folder to write the images to (assl.pool)")
    pool.add_argument("--n", type=int, default=24, help="number of images (default 24)")
    rle = commands.add_parser("rle-masks", help="write the masks of a run-length-encoded CSV (HuBMAP, DSB2018, "
                              "Sartorius, Carvana) as mask images beside their images")
    rle.add_argument("csv", help="the CSV: an id column (an image's file name or stem) and an encoding column")
    rle.add_argument("images", help="the folder of the images the ids name")
    rle.add_argument("out", help="the folder to write the masks to: <images>_masks beside the images folder "
                                 "(or masks/ beside images/) pairs by itself")
    rle.add_argument("--order", choices=("auto", "F", "C"), default="auto",
                     help="pixel order of the runs: F top to bottom, then left to right (the Kaggle text; "
                          "DSB2018, HuBMAP), C left to right, then top to bottom (Sartorius, Carvana); "
                          "auto (default): C for Carvana's and Sartorius' columns (rle_mask, annotation), else F")
    rle.add_argument("--id-column", help="default: the first column")
    rle.add_argument("--rle-column", help="default: the second column")
    polygons = commands.add_parser("geojson-masks", help="write the polygons of GeoJSON files (QuPath's File > "
                                   "Export objects as GeoJSON, HuBMAP) as mask images beside their images")
    polygons.add_argument("geojson", help="the folder of <image stem>.geojson (or .json) files, one per image")
    polygons.add_argument("images", help="the folder of the images they outline")
    polygons.add_argument("out", help="the folder to write the masks to: <images>_masks beside the images folder "
                                      "(or masks/ beside images/) pairs by itself")
    polygons.add_argument("--classes", help="comma-separated class names (QuPath's classifications): write class "
                                            "indices 1..k in this order; other classes are left out. Default: "
                                            "every polygon is an object of one class")
    polygons.add_argument("--nuclei", action="store_true", help="QuPath cells (cell detection, StarDist): their "
                                                                "nucleus outlines instead of the cells'")
    segment = commands.add_parser("segment", help="segment a folder or zip of images with an experiment's fold "
                                  "models alone (results/models/<exp>, copied anywhere), as predict_input would")
    segment.add_argument("models", help="the experiment's models folder (fold-*/model.h5) or quantize folder "
                                        "(fold-*/model_<engine>.tflite), with its settings.json")
    segment.add_argument("input", help="a folder or zip of images (an images/ folder, or every image in it and "
                                       "its subfolders), or one image file")
    segment.add_argument("out", help="the folder to write masks/, overlays/, ..., summary.csv, objects.csv and "
                                     "set_aside.csv to")
    segment.add_argument("--tta", choices=("none", "flips", "d4"), help="default: the experiment's predict.tta")
    segment.add_argument("--engine", choices=("keras", "dynamic_range", "float16", "int8"),
                         help="default: keras for a models folder, int8 for a quantize folder (run with LiteRT, "
                              "no TensorFlow needed)")
    segment.add_argument("--threads", type=int, default=0, help="CPU threads (default 0: all)")
    segment.add_argument("--batch-size", type=int, default=8, help="images or windows per model call (default 8)")
    args = parser.parse_args(argv)
    needed = {"segment": ("models", "input"), "rle-masks": ("csv", "images"), "geojson-masks": ("geojson", "images")}
    for name in needed.get(args.command, ()):
        if not os.path.exists(getattr(args, name)):
            print(f"error: {getattr(args, name)}: does not exist (the {name} argument). Fix: check the path",
                  file=sys.stderr)
            return 1
    if args.command == "segment":
        if args.threads < 0 or args.batch_size < 1:
            parser.error("--threads must be 0 (all) or more, --batch-size 1 or more")
        return _segment(args)
    if args.command == "rle-masks":
        return _rle_masks(args)
    if args.command == "geojson-masks":
        return _geojson_masks(args)
    if args.command == "demo-pool":
        from .data.demo import write_demo_pool

        print(f"{write_demo_pool(args.folder, args.n)} images written to {args.folder}")
        return 0
    from .assl import responses, review as page  # Flask is imported only by the command that needs it

    try:
        from .assl.rounds import check_reviewable

        check_reviewable(args.round_dir)
        if args.responses:
            imported = responses.import_responses(args.round_dir, args.responses)
            accepted, rejected, pending = responses.counts(args.round_dir)
            print(f"Imported {len(imported)} decisions from {args.responses}; the round now has "
                  f"{accepted} accepted, {rejected} rejected, {pending} not yet reviewed.")
        else:
            try:
                page.serve(args.round_dir, host=args.host, port=args.port)
            except OSError as err:  # port taken, address not of this machine
                print(f"error: cannot listen on {args.host}:{args.port}: {err.strerror or err}", file=sys.stderr)
                return 1
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
