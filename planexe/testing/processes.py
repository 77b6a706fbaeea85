"""Finding the pipeline processes of a test or benchmark, straight from /proc (Linux)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

from planexe.pipeline.standby import STANDBY_FLAG


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
    warm: list[tuple[int, int, str]] = []  # spares that became a plan's child: no --run-dir
    for number, cmd in _planexe_plan_processes():
        if "--run-dir" not in cmd[:-1] and STANDBY_FLAG not in cmd:
            continue
        try:
            proc = psutil.Process(number)
            with proc.oneshot():
                ppid, status = proc.ppid(), proc.status()
        except psutil.Error:
            continue
        if status == psutil.STATUS_ZOMBIE:
            continue
        if STANDBY_FLAG in cmd:
            warm.append((number, ppid, status))
            continue
        run_dir = cmd[cmd.index("--run-dir") + 1]
        if run_dir.startswith(prefix):
            found.append(Child(number, ppid, Path(run_dir).name, run_dir, status))
    if warm and under is not None:
        # Its command line still says --standby; the run directory it locked says which plan.
        owners = _lock_owners(under)
        for number, ppid, status in warm:
            owned = owners.get(number) or owners.get(ppid)  # the pipeline, or a step it forked
            if owned is not None:
                found.append(Child(number, ppid, Path(owned).name, owned, status))
    return found


def orphaned_spares() -> list[int]:
    """Warm spares (``--standby``) whose runner (their ``--parent-pid``) is gone: there must be none."""
    found = []
    for number, cmd in _planexe_plan_processes():
        if STANDBY_FLAG in cmd and "--parent-pid" in cmd[:-1]:
            runner = int(cmd[cmd.index("--parent-pid") + 1])
            try:
                alive = psutil.Process(runner).status() != psutil.STATUS_ZOMBIE
            except psutil.Error:
                alive = False
            if not alive:
                found.append(number)
    return found


def _planexe_plan_processes() -> Iterator[tuple[int, list[str]]]:
    for number in psutil.pids():
        try:
            with open(f"/proc/{number}/cmdline", "rb") as fh:
                cmd = fh.read().decode(errors="replace").split("\0")
        except OSError:
            continue  # gone already
        if "planexe.plan" in cmd:
            yield number, cmd


def _lock_owners(under: Path, depth: int = 4) -> dict[int, str]:
    """pid -> run directory, from the ``.lock`` files ("<pid> <run>") of run directories below."""
    owners: dict[int, str] = {}
    base = len(Path(under).parts)
    for root, dirs, files in os.walk(under):
        if len(Path(root).parts) - base >= depth:
            dirs[:] = []
        if ".lock" in files:
            dirs[:] = []  # a run directory: nothing below it is one
            try:
                pid = int((Path(root) / ".lock").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
            owners[pid] = root
    return owners


def roots(children: Iterable[Child]) -> list[Child]:
    """Pipeline main processes: Luigi's forked task processes have the same command line but a pipeline parent."""
    children = list(children)
    pids = {c.pid for c in children}
    return [c for c in children if c.ppid not in pids]
