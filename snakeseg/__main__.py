"""Command line: ``python -m snakeseg review results/assl/round-N [--host H] [--port P] [--responses FILE]``
and ``python -m snakeseg demo-pool FOLDER`` (unannotated demo images for active-learning rounds)."""

from __future__ import annotations

import argparse
import sys

from .errors import InputError


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
    pool.add_argument("folder")
    pool.add_argument("--n", type=int, default=24, help="number of images (default 24)")
    args = parser.parse_args(argv)
    if args.command == "demo-pool":
        from .data.demo import write_demo_pool

        print(f"{write_demo_pool(args.folder, args.n)} images written to {args.folder}")
        return 0
    from .assl import responses, review as page  # Flask is imported only by the command that needs it

    try:
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
