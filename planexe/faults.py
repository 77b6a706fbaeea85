"""Fault points: named places where a test freezes a process to open a crash window on purpose.

Random kills rarely land in the short windows where crash consistency is won
or lost (an output written but not yet shipped; a child finished but its
outcome not yet recorded). ``PLANEXE_FAULT_POINTS`` names points as
``point[:task][@run]``, comma-separated; the first time this process reaches
a matching point it stops itself with SIGSTOP. The test sees the process
stopped (``psutil``), then kills it, deletes its run directory or lets it
continue (SIGCONT), as the scenario needs. Unset (always, outside tests),
``reached`` is one dictionary lookup.

Points: ``after_output`` (pipeline: a step's files are written, its success
not yet recorded), ``before_conclude`` (runner: the child exited, its outcome
not yet synced or decided), ``before_renew`` (runner: about to renew a plan's
lease).
"""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import dataclass
from functools import cache

from planexe.settings import get_settings


@dataclass(frozen=True)
class FaultPoint:
    point: str
    task: str | None = None  # only for this step
    run: int | None = None  # only in this run (the plan's fencing token)

    @classmethod
    def parse(cls, text: str) -> FaultPoint:
        point, _, run = text.strip().partition("@")
        point, _, task = point.partition(":")
        return cls(point, task or None, int(run) if run else None)

    def matches(self, point: str, task: str | None, run: int | None) -> bool:
        return (
            self.point == point
            and (self.task is None or self.task == task)
            and (self.run is None or self.run == run)
        )


_lock = threading.Lock()  # steps run as threads: two may reach a point at once


@cache
def _armed() -> list[FaultPoint]:
    spec = get_settings().fault_points or ""
    return [FaultPoint.parse(part) for part in spec.split(",") if part.strip()]


def reached(point: str, *, task: str | None = None, run: int | None = None) -> None:
    """Stop this process here if a test armed this point (each armed point fires once)."""
    armed = _armed()
    if not armed:
        return
    with _lock:
        fault = next((f for f in armed if f.matches(point, task, run)), None)
        if fault is None:
            return
        armed.remove(fault)
    os.kill(os.getpid(), signal.SIGSTOP)
