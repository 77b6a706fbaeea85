"""What every benchmark shares: the machine, the results file, small statistics.

Each benchmark prints its figures, one summary line, and writes them as JSON to
``bench/results/<name>-<UTC timestamp>.json`` (and ``<name>-latest.json``), so
two runs can be compared with ``bench/compare.py``.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
PROMPT = "Open a small bakery in Copenhagen"


def _cpu_jiffies() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


def cpu_busy_pct(seconds: float = 1.0) -> float | None:
    """Share of all cores busy over ``seconds`` while this benchmark sleeps: other tenants' load."""
    try:
        busy0, total0 = _cpu_jiffies()
        time.sleep(seconds)
        busy1, total1 = _cpu_jiffies()
    except (OSError, ValueError, IndexError):
        return None
    return 100.0 * (busy1 - busy0) / max(1, total1 - total0)


def cpu_pressure() -> float | None:
    """Linux PSI: share of the last 60 s in which some runnable task waited for a CPU."""
    try:
        line = Path("/proc/pressure/cpu").read_text().splitlines()[0]
        return float(line.split("avg60=")[1].split()[0])
    except (OSError, IndexError, ValueError):
        return None


def code_version() -> dict[str, Any]:
    """Which code was measured: HEAD, and the product files that differ from it (read-only git)."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", "--no-optional-locks", *args],
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    changed = git("diff", "--name-only", "HEAD", "--", "planexe", "planexe_api")
    return {
        "git_head": git("rev-parse", "--short", "HEAD"),
        "uncommitted_product_files": changed.split() if changed else [],
    }


def machine() -> dict[str, Any]:
    """The facts that make two runs comparable, or explain why they are not."""
    load1, load5, _ = os.getloadavg()
    return {
        "cpu_busy_pct_before": cpu_busy_pct(),
        "cpu_pressure_avg60": cpu_pressure(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "load_avg_1m": round(load1, 2),
        "load_avg_5m": round(load5, 2),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **code_version(),
    }


def header(name: str, **options: Any) -> dict[str, Any]:
    info = machine()
    print(f"== bench/{name}.py  {info['date_utc']}")
    print(
        f"   cores: {info['cores']} (usable {info['cores_usable']}), load average "
        f"{info['load_avg_1m']}/{info['load_avg_5m']} (1/5 min), python {info['python']}"
    )
    if info["cpu_busy_pct_before"] is not None:
        print(
            f"   before start: {info['cpu_busy_pct_before']:.0f}% of the CPUs busy with other work,"
            f" CPU pressure {info['cpu_pressure_avg60']}% (PSI some avg60)"
        )
    dirty = info["uncommitted_product_files"]
    print(
        f"   code: {info['git_head']}"
        + (f" + uncommitted changes in {len(dirty)} product files" if dirty else "")
    )
    if options:
        print("   options: " + ", ".join(f"{k}={v}" for k, v in options.items()))
    return info


def write_results(name: str, figures: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(figures, indent=2, sort_keys=False, default=str)
    path = RESULTS_DIR / f"{name}-{stamp}.json"
    path.write_text(text + "\n", encoding="utf-8")
    (RESULTS_DIR / f"{name}-latest.json").write_text(text + "\n", encoding="utf-8")
    return path


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation: p99 of 200 samples is the 198th)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def rounded(value: Any, digits: int = 3) -> Any:
    """Round floats (also inside dicts and lists) for printing and JSON."""
    if isinstance(value, float):
        return round(value, digits) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(v, digits) for v in value]
    return value


def table(rows: Sequence[Sequence[Any]], headings: Sequence[str]) -> str:
    cells = [[str(h) for h in headings]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headings))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in cells]  # fmt: skip
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join("   " + line for line in lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


class Stopwatch:
    """Wall time of a benchmark, for its own runtime figure."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.started


def finish(name: str, figures: dict[str, Any], summary: str, last_line: dict[str, Any] | None = None) -> None:
    """Write the results file, print the summary line, and (optionally) a final JSON line."""
    figures.setdefault("machine", {})["cpu_pressure_avg60_after"] = cpu_pressure()
    path = write_results(name, rounded(figures))
    print(f"   results: {path.relative_to(REPO_ROOT)}")
    print(summary)
    if last_line is not None:
        print(json.dumps(rounded(last_line), separators=(",", ":")))
    sys.stdout.flush()
