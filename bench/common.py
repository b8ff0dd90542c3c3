"""What both benchmarks share: the machine they ran on, percentiles and plain-text tables."""

import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def require_module_run(package):
    """Stops a benchmark started as a file: its folder would come first on sys.path, before the project."""
    if package != "bench":
        sys.exit(
            "run the benchmarks from the project root as modules: `python -m bench.pipeline`, `python -m bench.over_http`"
        )


def machine():
    """One line for BENCHMARKS.md: cores, CPU model, memory and load when the run started."""
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    memory_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    return (
        f"{len(os.sched_getaffinity(0))} cores ({os.cpu_count()} online), {model}, "
        f"{memory_kb / 1024 / 1024:.1f} GiB RAM, Python {platform.python_version()}; {load()}"
    )


def load():
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    return "uptime: " + uptime


def percentile(values, q):
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def table(header, rows):
    """A Markdown table, so that the output pastes straight into BENCHMARKS.md."""
    cells = [list(map(str, header))] + [[str(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [
        "| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) + " |" for row in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (width + 2) for width in widths) + "|")
    return "\n".join(lines)
