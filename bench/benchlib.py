"""What the benchmark scripts share: the machine's description, the targets check and the
result file with its headline line. Imported as ``benchlib`` (the scripts run from bench/)."""

from __future__ import annotations

import json
import operator
import os
import platform
from pathlib import Path

_OPS = {"<=": operator.le, ">=": operator.ge}


def machine(tf=None, load_key: str = "loadavg_at_end") -> dict:
    """CPU count, platform, Python, processor and load average (under ``load_key``); with ``tf``,
    TensorFlow's version, visible GPUs and thread settings."""
    info = {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(), "cpu_model": _cpu_model(),
            "cpu_bf16_flags": _bf16_flags(),
            load_key: os.getloadavg()}
    if tf is not None:
        info.update({"tensorflow": tf.__version__, "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
                     "tf_intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
                     "tf_inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads()})
    return info


def _cpu_model() -> str:
    """The CPU's model name in Linux's /proc/cpuinfo (the machine behind a session's figures changes)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return ""
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "")


def _bf16_flags() -> list[str]:
    """The CPU's bfloat16 flags in Linux's /proc/cpuinfo (``amx_bf16`` or ``avx512_bf16``: training
    and prediction compute in bfloat16)."""
    try:
        return sorted({flag for flag in Path("/proc/cpuinfo").read_text().split() if "bf16" in flag})
    except OSError:
        return []


def targets(figures: dict, wanted: dict[str, tuple[str, float]]) -> dict:
    """``{"targets": {key: "<= 1.5"}, "met": {key: bool}}`` for ``wanted = {key: (op, value)}``."""
    return {"targets": {k: f"{op} {v}" for k, (op, v) in wanted.items()},
            "met": {k: _OPS[op](figures[k], v) for k, (op, v) in wanted.items()}}


def write_result(out: str | Path, result: dict) -> None:
    """``result`` as indented JSON at ``out`` (folders made as needed)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")


def headline(figures: dict) -> str:
    """The last line every benchmark prints: its figures as ``key=value`` pairs."""
    return " ".join(f"{k}={v}" for k, v in figures.items())
