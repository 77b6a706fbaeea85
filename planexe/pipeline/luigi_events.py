"""Luigi event handlers that write ``events.jsonl``.

START, SUCCESS and FAILURE fire inside the forked task process; TIMEOUT and
PROCESS_FAILURE fire in the worker's main process. Both append to the same
file (see ``events.EventWriter``).
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import luigi

from planexe.log import scrub
from planexe.pipeline.base import PlanTask
from planexe.pipeline.context import current_context
from planexe.pipeline.events import read_events
from planexe.pipeline.procutil import die_with_parent

_installed = False
_main_pid = os.getpid()


def _emit(task: PlanTask, kind: str, **fields: Any) -> None:
    current_context(task.run_dir).events.emit(kind, task=task.step_name(), **fields)


def _task_attempt(task: PlanTask) -> int:
    """How many times this task has started in this run attempt, this start included."""
    ctx = current_context(task.run_dir)
    events, _ = read_events(ctx.events.path)
    name = task.step_name()
    prior = sum(
        1
        for e in events
        if e.get("kind") == "task_started"
        and e.get("task") == name
        and e.get("attempt") == ctx.events.attempt
    )
    return prior + 1


def _on_start(task: PlanTask) -> None:
    if os.getpid() != _main_pid:
        # A forked task process: die with the pipeline process, and let SIGTERM
        # kill it outright (it must not run the parent's graceful handler).
        die_with_parent(expected_parent=_main_pid)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    task._planexe_started = time.time()  # type: ignore[attr-defined]
    attempt = _task_attempt(task)
    _emit(task, "task_started", task_attempt=attempt)
    if attempt > 1:
        _emit(task, "task_retried", task_attempt=attempt)


def _duration(task: PlanTask) -> float | None:
    started = getattr(task, "_planexe_started", None)
    return round(time.time() - started, 4) if started else None


def _on_success(task: PlanTask) -> None:
    _emit(task, "task_succeeded", duration_s=_duration(task), output=task.output_filename())


def _on_failure(task: PlanTask, exception: BaseException) -> None:
    message = scrub(f"{type(exception).__name__}: {exception}")[:1000]
    _emit(task, "task_failed", duration_s=_duration(task), error=message)


def _on_timeout(task: PlanTask, error_msg: str) -> None:
    _emit(task, "task_timed_out", error=scrub(str(error_msg))[:1000], timeout_s=task.worker_timeout)


def _on_process_failure(task: PlanTask, error_msg: str) -> None:
    _emit(task, "task_failed", error=scrub(str(error_msg))[:1000], process_died=True)


def install() -> None:
    global _installed, _main_pid
    _main_pid = os.getpid()
    if _installed:
        return
    PlanTask.event_handler(luigi.Event.START)(_on_start)
    PlanTask.event_handler(luigi.Event.SUCCESS)(_on_success)
    PlanTask.event_handler(luigi.Event.FAILURE)(_on_failure)
    PlanTask.event_handler(luigi.Event.TIMEOUT)(_on_timeout)
    PlanTask.event_handler(luigi.Event.PROCESS_FAILURE)(_on_process_failure)
    _installed = True
