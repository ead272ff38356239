"""Reading Snakemake's own output: the "Job stats" table of a (dry) run."""

from __future__ import annotations

import re


def job_counts(output: str) -> dict[str, int]:
    """Jobs per rule from the first 'Job stats' table in Snakemake's output ({} when none)."""
    counts = {}
    block = output.split("Job stats:", 1)
    if len(block) < 2:
        return counts
    for line in block[1].splitlines()[3:]:
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if not m:
            break
        counts[m.group(1)] = int(m.group(2))
    counts.pop("total", None)
    return counts
