"""Finding the pipeline processes of a test or benchmark, straight from /proc (Linux)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass(frozen=True)
class Child:
    """A live ``python -m planexe.plan`` process (the main one or a Luigi task fork)."""

    pid: int
    ppid: int
    plan_id: str
    run_dir: str
    status: str


def pipeline_processes(under: Path | None = None) -> list[Child]:
    """Pipeline processes, only those whose run directory is below ``under`` if given (other tests run too).

    The command line is read straight from /proc: sampled every 50 ms over a hundred
    processes, psutil's per-process attribute gathering would take a good part of a core
    from the very plans being measured.
    """
    prefix = f"{under}{os.sep}" if under is not None else ""
    found = []
    for number in psutil.pids():
        try:
            with open(f"/proc/{number}/cmdline", "rb") as fh:
                cmd = fh.read().decode(errors="replace").split("\0")
        except OSError:
            continue  # gone already
        if "planexe.plan" not in cmd or "--run-dir" not in cmd[:-1]:
            continue
        run_dir = cmd[cmd.index("--run-dir") + 1]
        if not run_dir.startswith(prefix):
            continue
        try:
            proc = psutil.Process(number)
            with proc.oneshot():
                ppid, status = proc.ppid(), proc.status()
        except psutil.Error:
            continue
        if status != psutil.STATUS_ZOMBIE:
            found.append(Child(number, ppid, Path(run_dir).name, run_dir, status))
    return found


def roots(children: Iterable[Child]) -> list[Child]:
    """Pipeline main processes: Luigi's forked task processes have the same command line but a pipeline parent."""
    children = list(children)
    pids = {c.pid for c in children}
    return [c for c in children if c.ppid not in pids]
