"""One plan through ``python -m planexe.plan``, timed from the outside and from its events.

Start-up is spawn -> ``run_started`` (interpreter, imports, settings, the DAG
walk), DAG execution is ``run_started`` -> ``run_finished`` (events.jsonl
timestamps, written by the child itself), and exit is ``run_finished`` ->
the process is reaped. CPU is the user+system time of the whole tree: Luigi
reaps its forked task processes, so their time rolls up into the child's.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import PROMPT

from planexe.pipeline.rundir import EVENTS_FILE, LOG_FILE, PlanSpec, write_plan
from planexe.testing.pipeline import child_env

RUN_TIMEOUT_S = 900.0


@dataclass
class PlanTiming:
    exit_code: int
    wall_s: float  # spawn -> reaped
    startup_s: float  # spawn -> run_started
    dag_s: float  # run_started -> run_finished
    exit_s: float  # run_finished -> reaped
    cpu_s: float  # user + system of the process tree
    tasks: int
    llm_server_cpu_s: float = 0.0  # filled in by callers that run one
    events: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @property
    def per_task_ms(self) -> float:
        return 1000 * self.dag_s / max(1, self.tasks)

    def figures(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code,
            "wall_s": self.wall_s,
            "startup_s": self.startup_s,
            "dag_s": self.dag_s,
            "exit_s": self.exit_s,
            "cpu_s": self.cpu_s,
            "tasks": self.tasks,
            "dag_ms_per_task": self.per_task_ms,
        }


def llm_env(base_url: str | None, concurrency: int | None = None) -> dict[str, str]:
    """PLANEXE_* for the test LLM server (None: the offline provider)."""
    env: dict[str, str] = {"PLANEXE_LOG_LEVEL": "warning"}
    if base_url:
        env |= {"PLANEXE_LLM_BASE_URL": base_url, "PLANEXE_LLM_MODEL": "planexe-test"}
    if concurrency is not None:
        env["PLANEXE_MAX_CONCURRENT_LLM"] = str(concurrency)
    return env


def many_plans_env(base_url: str, plans: int) -> dict[str, str]:
    """PLANEXE_* for one ``planexe serve`` that runs ``plans`` plans at once against the LLM server."""
    return {
        **llm_env(base_url),
        "PLANEXE_MAX_CONCURRENT_PLANS": str(plans),
        "PLANEXE_MAX_QUEUED_PLANS": str(max(100, plans)),
        # The production timings, not the tests' short ones: with this many plans on 2 cores a
        # 3 s lease can run out between two heartbeats of a busy runner.
        "PLANEXE_HEARTBEAT_S": "5",
        "PLANEXE_LEASE_S": "30",
        "PLANEXE_POLL_S": "0.5",
    }


def fresh_run_dir(root: Path, detail: str, prompt: str = PROMPT) -> Path:
    shutil.rmtree(root, ignore_errors=True)
    run_dir = root / "run"
    run_dir.mkdir(parents=True)
    write_plan(run_dir, PlanSpec(prompt=prompt, detail=detail, plan_id="bench"))  # type: ignore[arg-type]
    return run_dir


def read_events(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / EVENTS_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_plan(
    root: Path,
    *,
    detail: str,
    workers: int,
    env: Mapping[str, str],
    main: list[str] | None = None,
    watch: Callable[[int], AbstractContextManager[Any]] | None = None,
) -> PlanTiming:
    """Run one plan in a fresh run directory under ``root``.

    ``main`` replaces ``-m planexe.plan``; ``watch(pid)`` is entered while the process runs.
    """
    run_dir = fresh_run_dir(root, detail)
    argv = [sys.executable, *(main or ["-m", "planexe.plan"]), "--run-dir", str(run_dir)]
    full_env = child_env({**env, "LUIGI_WORKERS": str(workers)})
    cpu_before = _children_cpu()
    with (run_dir / LOG_FILE).open("ab") as log:
        spawned = time.time()
        process = subprocess.Popen(
            argv, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            with watch(process.pid) if watch else contextlib.nullcontext():
                code = process.wait(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the whole group: Luigi's task processes too
            process.wait()
            raise
        reaped = time.time()
    cpu = _children_cpu() - cpu_before
    events = read_events(run_dir)
    started = next((e["ts"] for e in events if e["kind"] == "run_started"), None)
    finished = next((e["ts"] for e in events if e["kind"] == "run_finished"), None)
    if code != 0 or started is None or finished is None:
        tail = (run_dir / LOG_FILE).read_text(errors="replace")[-3000:]
        raise RuntimeError(f"pipeline exited {code} in {run_dir}:\n{tail}")
    total = next(e["total"] for e in events if e["kind"] == "run_started")
    return PlanTiming(
        exit_code=code,
        wall_s=reaped - spawned,
        startup_s=started - spawned,
        dag_s=finished - started,
        exit_s=reaped - finished,
        cpu_s=cpu,
        tasks=total,
        events=events,
    )
