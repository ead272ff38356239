"""Glue for the per-rule scripts: log to the rule's log file, turn input errors into clear messages."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from typing import Iterator

from .errors import InputError

log = logging.getLogger("snakeseg")


@contextlib.contextmanager
def logged(log_path: str, rule: str) -> Iterator[logging.Logger]:
    """Send stdout, stderr and logging to ``log_path``; report InputError or SystemExit("...") as one line.

    The error line also goes to the original stderr, so it shows in Snakemake's own output
    next to the path of the log.
    """
    console = sys.stderr
    with open(log_path, "a", buffering=1) as fh, contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
        logging.basicConfig(stream=fh, level=logging.INFO, force=True,
                            format="%(asctime)s %(levelname)s %(message)s")
        start = time.time()
        log.info("rule %s started", rule)
        try:
            yield log
        except (InputError, SystemExit) as err:
            if isinstance(err, SystemExit) and not isinstance(err.code, str):
                raise
            msg = f"snakeseg {rule}: {err}"
            log.error(msg)
            print(msg, file=console)
            raise SystemExit(1) from None
        log.info("rule %s finished in %.1f s", rule, time.time() - start)
