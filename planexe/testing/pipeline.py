"""Run the real pipeline process for tests and benchmarks."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from planexe.pipeline.events import read_events
from planexe.pipeline.rundir import EVENTS_FILE, LOG_FILE, PlanSpec, write_plan

Event = dict[str, Any]


def make_run_dir(
    root: Path, prompt: str = "Open a small bakery in Copenhagen", detail: str = "fast", **extra: Any
) -> Path:
    run_dir = root / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    write_plan(run_dir, PlanSpec(prompt=prompt, detail=detail, plan_id=extra.pop("plan_id", "test")))  # type: ignore[arg-type]
    return run_dir


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLANEXE_") and k != "LUIGI_WORKERS"}
    env["PLANEXE_LOG_FORMAT"] = "json"
    env.update(extra or {})
    return env


def start_pipeline(
    run_dir: Path, *args: str, env: Mapping[str, str] | None = None, stdin: int | None = subprocess.DEVNULL
) -> subprocess.Popen[bytes]:
    """``python -m planexe.plan`` in its own session, output appended to the run's log."""
    log = (run_dir / LOG_FILE).open("ab")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "planexe.plan", "--run-dir", str(run_dir), *args],
            env=child_env(env),
            stdin=stdin,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        log.close()


def run_to_end(run_dir: Path, *args: str, env: Mapping[str, str] | None = None, timeout: float = 240) -> int:
    process = start_pipeline(run_dir, *args, env=env)
    try:
        return process.wait(timeout=timeout)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 9)
            process.wait()


def events(run_dir: Path) -> list[Event]:
    return read_events(run_dir / EVENTS_FILE)[0]


def wait_for(run_dir: Path, predicate: Callable[[list[Event]], bool], timeout: float = 60) -> list[Event]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = events(run_dir)
        if predicate(current):
            return current
        time.sleep(0.02)
    raise TimeoutError(f"events in {run_dir} never satisfied the condition")


def log_records(run_dir: Path) -> list[dict[str, Any]]:
    import json

    records = []
    for line in (run_dir / LOG_FILE).read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
    return records
