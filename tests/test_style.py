"""The rule files pass Snakemake's linter and snakefmt's formatting check; the dependency lists agree."""
import re
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


def _pins(path):
    """``package==version`` lines of a requirements or conda file, as {package: version}."""
    pins = re.findall(r"^[\s-]*([A-Za-z0-9_.-]+)==(\S+)", (REPO / path).read_text(), re.MULTILINE)
    return dict(pins)


def test_the_other_dependency_lists_pin_what_requirements_txt_pins():
    """The conda environment and the TensorFlow-free list for segmenting with a quantize folder
    (requirements-segment.txt) never drift from requirements.txt."""
    main = _pins("requirements.txt")
    conda, segment = _pins("envs/snakeseg.yaml"), _pins("requirements-segment.txt")
    assert conda == main
    assert segment and {k: main.get(k) for k in segment} == segment and "tensorflow" not in segment
