"""Hooks the workflow registers with Snakemake (``onsuccess``/``onerror`` in rules/common.smk)."""

from __future__ import annotations

import threading


def cancel_pending_timers() -> int:
    """Cancel the ``threading.Timer`` threads still waiting in this process; returns how many.

    Snakemake 9's job scheduler starts a ``threading.Timer`` of ``--max-jobs-per-timespan``'s
    timespan (1 s by default) after each scheduling round to look at the queue again. Timers are
    not daemon threads, so Python waits for the last one before the process exits: every run that
    executed a job ended up to a second after its last job (a fifth of a one-image rerun). Once the
    run has succeeded or failed nothing is left to schedule, so the timers can go. (A sub-second
    timespan is no way out: ``--max-jobs-per-timespan 10/100ms`` is read as 100 minutes.)
    """
    cancelled = 0
    for thread in threading.enumerate():
        if isinstance(thread, threading.Timer) and thread.is_alive():
            thread.cancel()
            cancelled += 1
    return cancelled
