"""What the pipeline process's memory is made of, and what a forked step carries of it.

    .venv/bin/python bench/memory_breakdown.py

1. Anonymous memory of a fresh pipeline-like process after each group of
   imports, in the order the entry point pays them (``/proc/self/smaps_rollup``),
   then after the run context, TLS context and JSON schemas are built.
2. One full plan with ``PLANEXE_TASK_ISOLATION=process`` against the LLM
   server: RSS, anonymous, private dirty and PSS of each forked step process,
   sampled every 0.2 s (medians), beside the pipeline process's own.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
from _common import finish, header, table
from _runs import llm_env, run_plan

from planexe.testing.llm_server import llm_server

# Run in a fresh interpreter: each step's code, then print the anonymous memory in MB.
_IMPORT_STEPS = [
    ("python", ""),
    ("luigi", "import luigi, luigi.worker, luigi.scheduler"),
    ("pydantic", "import pydantic"),
    ("structlog", "import structlog"),
    ("httpx, httpcore, anyio", "import httpx, httpcore, anyio._backends._asyncio, h11"),
    ("pydantic-settings", "import pydantic_settings"),
    ("planexe pipeline and llm", "import planexe.plan.__main__"),
    ("planexe.plan (the steps and their models)", "import planexe.plan.dag"),
    (
        "run context, TLS context, JSON schemas",
        "from planexe.pipeline.graph import task_order\nfrom planexe.pipeline.runner import warm_up\n"
        "from planexe.pipeline.context import open_context\n"
        "from planexe.plan.dag import final_task\n"
        "open_context(RUN_DIR)\n"
        "warm_up([cls(run_dir=str(RUN_DIR), attempt=1) for cls in task_order(type(final_task(str(RUN_DIR))))])",
    ),
]

_PROBE = """
import json, os, sys
from pathlib import Path
def anon():
    for line in open(f"/proc/{os.getpid()}/smaps_rollup"):
        if line.startswith("Anonymous"):
            return int(line.split()[1]) / 1024
RUN_DIR = Path(sys.argv[1])
from planexe.pipeline.lean_imports import without_optional_modules
out = []
with without_optional_modules():
    for name, code in json.loads(sys.argv[2]):
        exec(code)
        out.append([name, anon()])
print(json.dumps(out))
"""


def import_breakdown(run_dir: Path) -> list[dict[str, Any]]:
    raw = subprocess.run(
        [sys.executable, "-c", _PROBE, str(run_dir), json.dumps(_IMPORT_STEPS)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows, before = [], 0.0
    for name, anon in json.loads(raw):
        rows.append({"after": name, "added_mb": anon - before, "anonymous_mb": anon})
        before = anon
    return rows


def _rollup(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, value = line.split(":", 1)
        fields[key] = int(value.split()[0])
    return fields


def forked_steps(root: Path, base_url: str) -> dict[str, Any]:
    samples: list[dict[str, int]] = []
    parent: list[dict[str, int]] = []

    @contextlib.contextmanager
    def watch(pid: int) -> Iterator[None]:
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(0.2):
                with contextlib.suppress(psutil.Error, OSError, ValueError):
                    parent.append(_rollup(pid))
                    for child in psutil.Process(pid).children():
                        with contextlib.suppress(OSError, ValueError):
                            samples.append(_rollup(child.pid))

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    env = llm_env(base_url) | {"PLANEXE_TASK_ISOLATION": "process"}
    run_plan(root, detail="full", workers=10, env=env, watch=watch)

    def med(rows: list[dict[str, int]], key: str) -> float:
        return statistics.median(r.get(key, 0) for r in rows) / 1024

    keys = ("Rss", "Anonymous", "Private_Dirty", "Pss")
    return {
        "step_samples": len(samples),
        "step_median_mb": {k: med(samples, k) for k in keys},
        "pipeline_process_max_mb": {k: max(r.get(k, 0) for r in parent) / 1024 for k in keys},
    }


def main(argv: list[str] | None = None) -> int:
    info = header("memory_breakdown")
    with tempfile.TemporaryDirectory(prefix="planexe-bench-membreak-") as tmp:
        root = Path(tmp)
        from planexe.testing.pipeline import make_run_dir

        rows = import_breakdown(make_run_dir(root / "imports", detail="full"))
        print(
            table(
                [[r["after"], r["added_mb"], r["anonymous_mb"]] for r in rows],
                ["after", "added_mb", "anonymous_mb"],
            )
        )
        with llm_server(latency="fixed:0.5", seed=7) as server:
            forked = forked_steps(root / "forked", server.base_url)
    step, main_ = forked["step_median_mb"], forked["pipeline_process_max_mb"]
    print(
        f"   forked step (median of {forked['step_samples']} samples): RSS {step['Rss']:.1f} MB, anonymous"
        f" {step['Anonymous']:.1f}, private dirty {step['Private_Dirty']:.1f}, PSS {step['Pss']:.1f};"
        f" pipeline process (max): RSS {main_['Rss']:.1f}, anonymous {main_['Anonymous']:.1f}"
    )
    summary = (
        f"memory_breakdown: pipeline process {rows[-1]['anonymous_mb']:.1f} MB anonymous after start-up;"
        f" a forked step {step['Rss']:.1f} MB RSS of which {step['Anonymous']:.1f} anonymous, {step['Pss']:.1f} PSS"
    )
    finish("memory_breakdown", {"machine": info, "imports": rows, **forked}, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
