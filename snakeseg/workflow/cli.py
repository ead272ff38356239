"""Glue for the per-rule scripts: log to the rule's log file, turn input errors into clear messages."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from typing import Iterator

from ..errors import InputError

log = logging.getLogger("snakeseg")


@contextlib.contextmanager
def _fds_to(fh) -> Iterator[None]:
    """Point file descriptors 1 and 2 at ``fh`` (TensorFlow's C++ logging writes there directly)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
        with contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
            yield
    finally:
        fh.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)


@contextlib.contextmanager
def logged(log_path: str, rule: str) -> Iterator[logging.Logger]:
    """Send stdout, stderr and logging to ``log_path``; report InputError or SystemExit("...") as one line.

    The error line also goes to the original stderr, so it shows in Snakemake's own output
    next to the path of the log.
    """
    with open(log_path, "a", buffering=1) as fh:
        try:
            with _fds_to(fh):
                logging.basicConfig(stream=fh, level=logging.INFO, force=True,
                                    format="%(asctime)s %(levelname)s %(message)s")
                start = time.time()
                log.info("rule %s started", rule)
                try:
                    yield log
                except (InputError, SystemExit) as err:
                    if isinstance(err, SystemExit) and not isinstance(err.code, str):
                        raise
                    log.error("%s", err)
                    raise SystemExit(f"snakeseg {rule}: {err} (log: {log_path})") from None
                except Exception:
                    log.exception("rule %s failed", rule)  # the traceback belongs in the rule's log too
                    raise
                log.info("rule %s finished in %.1f s", rule, time.time() - start)
        except SystemExit as exc:
            if isinstance(exc.code, str):
                print(exc.code, file=sys.stderr)
                raise SystemExit(1) from None
            raise
