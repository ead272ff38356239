"""profiles/slurm against a real one-node SLURM cluster (tests/cluster/slurm_e2e.sh).

The script installs SLURM from Debian's packages, starts munged, slurmctld and slurmd, runs the
tiny demo configuration through `--profile profiles/slurm`, compares it with a local run, checks
that a job failing inside SLURM fails the run with its log paths, and stops the daemons again.
It takes several minutes and installs system packages, so it runs only when asked to:
``SNAKESEG_SLURM_E2E=1`` (which .ci/run sets), as root on a machine with Debian's apt-get.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().with_name("slurm_e2e.sh")


def _skip_reason() -> str | None:
    if os.environ.get("SNAKESEG_SLURM_E2E") != "1":
        return "set SNAKESEG_SLURM_E2E=1 to run it (it apt-installs SLURM and starts its daemons)"
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "needs root: slurm_e2e.sh installs SLURM packages and starts its daemons"
    if shutil.which("apt-get") is None:
        return "needs Debian's apt-get to install SLURM (munge, slurmctld, slurmd, slurm-client)"
    return None


@pytest.mark.slow
@pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")
def test_workflow_runs_on_a_real_slurm_cluster_through_the_profile():
    # The scratch folder stays the script's default (/tmp/snakeseg-slurm-e2e, or
    # SNAKESEG_SLURM_E2E_DIR): pytest's tmp_path is private to root, and the slurm and munge
    # users must write their state and logs there.
    env = {**os.environ, "SNAKESEG_PYTHON": sys.executable}
    proc = subprocess.Popen(["bash", str(SCRIPT)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        stdout, stderr = proc.communicate(timeout=1500)
    except subprocess.TimeoutExpired:
        # SIGTERM, not SIGKILL: the script's trap then stops the runs and the daemons it started.
        proc.terminate()
        try:
            stdout, stderr = proc.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
        pytest.fail(f"slurm_e2e.sh did not finish within 1500 s:\n{(stdout + stderr)[-8000:]}")
    output = stdout + stderr
    assert proc.returncode == 0, f"slurm_e2e.sh failed ({proc.returncode}):\n{output[-8000:]}"
    ids = re.search(r"^SLURM job ids: ([\d ]+)$", stdout, re.M)
    assert ids, f"no SLURM job ids printed:\n{output[-4000:]}"
    job_ids = ids.group(1).split()
    # One SLURM job per job of the tiny DAG (over 20 with n_shards 4, n_folds 2), all distinct;
    # the script itself checks them against the DAG and slurmctld's log.
    assert len(job_ids) >= 10 and len(set(job_ids)) == len(job_ids), job_ids
    assert re.search(r"^SLURM job ids of the failing run: \d+", stdout, re.M), output[-4000:]
    assert re.search(r"\] PASS \(wall time \d+ s\)$", stdout, re.M), output[-4000:]
