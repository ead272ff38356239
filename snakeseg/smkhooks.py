"""What rules/common.smk does to Snakemake's own process: it starts and ends sooner.

Neither changes what runs or what is written; both were measured on a one-image rerun of the
10,000-image data stage (bench/data_stage.py), where Snakemake's fixed costs are most of the time.
"""

from __future__ import annotations

import gc
import threading


def freeze_heap() -> None:
    """Move every object alive now to the garbage collector's permanent generation (``gc.freeze``).

    Called once the workflow is parsed and again when the run is over. Snakemake and its plugins
    leave ~10^6 objects (1,200 modules, the DAG); Python's collector walks them all in each full
    collection and once more while the interpreter shuts down: ~0.35 s at every exit of a
    ``snakemake`` command on the development machine, ~0.03 s once they are frozen. The cost is
    that cyclic garbage made before a freeze is never freed, a few MB in a process about to end.
    """
    gc.freeze()


def finish() -> None:
    """``onsuccess``/``onerror``: let the process exit as soon as Snakemake is done."""
    cancel_pending_timers()
    freeze_heap()


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
