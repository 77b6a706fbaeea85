"""Luigi event handlers that write ``events.jsonl``.

START, SUCCESS and FAILURE fire where the step runs: a thread of the pipeline
process (the default), or the forked task process under
``PLANEXE_TASK_ISOLATION=process``; TIMEOUT and PROCESS_FAILURE fire in the
worker's main thread. All append to the same file (see ``events.EventWriter``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from typing import Any

import luigi

from planexe.log import scrub
from planexe.pipeline.base import PlanTask
from planexe.pipeline.context import current_context
from planexe.pipeline.procutil import die_with_parent

_installed = False
_main_pid = os.getpid()


def _emit(task: PlanTask, kind: str, **fields: Any) -> None:
    current_context(task.run_dir).events.emit(kind, task=task.step_name(), **fields)


FAILURES_DIR = ".failures"  # one file per task; its size in bytes = the task's failures this run


def _failures_file(task: PlanTask) -> str:
    return os.path.join(task.run_dir, FAILURES_DIR, task.step_name())


def _count_failure(task: PlanTask) -> None:
    # One appended byte per failure, from whichever process saw it: a retry's
    # start then learns its attempt number from one stat() instead of re-reading
    # events.jsonl, which every task start would otherwise do.
    path = _failures_file(task)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, b"x")
    finally:
        os.close(fd)


def reset_failure_counts(run_dir: str) -> None:
    """Each run counts its own retries."""
    shutil.rmtree(os.path.join(run_dir, FAILURES_DIR), ignore_errors=True)


def _task_attempt(task: PlanTask) -> int:
    """How many times this task has started in this run, this start included."""
    try:
        return os.stat(_failures_file(task)).st_size + 1
    except FileNotFoundError:
        return 1


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
    _emit(
        task,
        "task_succeeded",
        duration_s=_duration(task),
        output=task.output_filename(),
        outputs=list(task.output_files()),
        # The step's LLM calls, tokens and cost (per task; each call has its own llm_call event).
        **({"llm": task._planexe_usage} if getattr(task, "_planexe_usage", None) else {}),
    )


def _on_failure(task: PlanTask, exception: BaseException) -> None:
    if isinstance(exception, asyncio.CancelledError):
        # A step run as a thread, stopped by the worker at its timeout or at shutdown: the
        # timeout is recorded by _on_timeout, and a forked step killed then records nothing.
        return
    _count_failure(task)
    message = scrub(f"{type(exception).__name__}: {exception}")[:1000]
    _emit(task, "task_failed", duration_s=_duration(task), error=message)


def _on_timeout(task: PlanTask, error_msg: str) -> None:
    _count_failure(task)
    _emit(task, "task_timed_out", error=scrub(str(error_msg))[:1000], timeout_s=task.worker_timeout)


def _on_process_failure(task: PlanTask, error_msg: str) -> None:
    _count_failure(task)
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
