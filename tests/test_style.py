"""The rule files pass Snakemake's linter and snakefmt's formatting check."""
import subprocess
import sys
from pathlib import Path

from helpers import REPO

BIN = Path(sys.executable).parent


def test_snakemake_lint_reports_nothing(tmp_path):
    proc = subprocess.run([str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path),
                           "--lint"], capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "Congratulations, your workflow is in a good condition!" in out, out[-4000:]


def test_snakefmt_check_passes():
    proc = subprocess.run([str(BIN / "snakefmt"), "--check", "."], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
