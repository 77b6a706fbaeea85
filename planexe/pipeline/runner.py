"""Run the plan DAG on a run directory with Luigi, and say how it ended."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import luigi
from luigi.execution_summary import LuigiStatusCode

from planexe.errors import ConfigError, PipelineError
from planexe.llm.executor import schema_of
from planexe.log import get_logger
from planexe.pipeline import hygiene as luigi_hygiene
from planexe.pipeline import luigi_events
from planexe.pipeline.base import PlanTask
from planexe.pipeline.context import RunContext, open_context
from planexe.pipeline.events import read_events
from planexe.pipeline.exitcodes import ExitCode
from planexe.pipeline.lock import RunDirLock
from planexe.pipeline.luigi_worker import WorkerFactory
from planexe.pipeline.rundir import REPORT_FILE, clean_stale_temp_files
from planexe.settings import Settings, get_settings

log = get_logger(__name__)

_STATUS_TO_EXIT = {
    LuigiStatusCode.SUCCESS: ExitCode.SUCCESS,
    LuigiStatusCode.SUCCESS_WITH_RETRY: ExitCode.SUCCESS,
    LuigiStatusCode.FAILED: ExitCode.TASK_FAILED,
    LuigiStatusCode.FAILED_AND_SCHEDULING_FAILED: ExitCode.TASK_FAILED,
    LuigiStatusCode.SCHEDULING_FAILED: ExitCode.SCHEDULING_FAILED,
    LuigiStatusCode.NOT_RUN: ExitCode.SCHEDULING_FAILED,
    LuigiStatusCode.MISSING_EXT: ExitCode.SCHEDULING_FAILED,
}


@dataclass
class RunResult:
    exit_code: ExitCode
    reason: str
    failed_tasks: list[str] = field(default_factory=list)
    duration_s: float = 0.0


def warm_up(tasks: list[PlanTask]) -> None:
    """Do once, before Luigi forks a process per task, what every task would otherwise redo.

    anyio imports its asyncio backend lazily on first use (~0.1 s), httpx builds
    a TLS context (loading the CA bundle) for every client, and pydantic builds
    JSON schemas on demand: done here once, forked children inherit all three.
    """
    import anyio._backends._asyncio
    import anyio.to_thread  # noqa: F401
    import h11  # noqa: F401
    import httpcore  # noqa: F401

    from planexe.llm.providers import shared_ssl_context

    shared_ssl_context()
    for task in tasks:
        model = getattr(type(task), "output_model", None)
        if model is not None:
            schema_of(model)


def walk(task: PlanTask) -> Iterator[PlanTask]:
    """Every task of the DAG below ``task`` (itself included), each once."""
    seen: set[str] = set()
    stack = [task]
    while stack:
        current = stack.pop()
        if current.task_id in seen:
            continue
        seen.add(current.task_id)
        yield current
        stack.extend(luigi.task.flatten(current.requires()))


def _failed_tasks(ctx: RunContext) -> tuple[list[str], str]:
    """Tasks whose last event in this attempt is a failure, and the last error message."""
    events, _ = read_events(ctx.events.path)
    last: dict[str, dict[str, object]] = {}
    for event in events:
        if event.get("attempt") == ctx.events.attempt and str(event.get("kind", "")).startswith("task_"):
            last[str(event.get("task"))] = event
    failed = {name: e for name, e in last.items() if e["kind"] in ("task_failed", "task_timed_out")}
    message = ""
    if failed:
        name, event = next(reversed(failed.items()))
        message = f"{name}: {event.get('error', '')}"
    return sorted(failed), message


class _Interrupted(KeyboardInterrupt):
    pass


def _raise_interrupt(signum: int, _frame: FrameType | None) -> None:
    # Luigi's Worker.__exit__ terminates the running task processes when this
    # unwinds through luigi.build; outputs are atomic, so nothing half-done stays.
    # The handler stays installed: if the exception lands somewhere that swallows
    # it (logging's at-fork lock release does), the next SIGTERM must try again.
    raise _Interrupted(signal.Signals(signum).name)


def run_pipeline(
    run_dir: Path,
    *,
    workers: int,
    hygiene: luigi_hygiene.Hygiene,
    attempt: int = 1,
    settings: Settings | None = None,
    handle_signals: bool = True,
) -> RunResult:
    from planexe.plan.dag import final_task  # the plan steps import this package

    started = time.perf_counter()
    run_dir = Path(run_dir).resolve()
    if not run_dir.is_dir():
        return RunResult(ExitCode.CONFIG_ERROR, f"run directory {run_dir} does not exist")
    lock = RunDirLock(run_dir)
    try:
        lock.acquire()
    except PipelineError as exc:
        return RunResult(ExitCode.LOCKED, str(exc))
    try:
        clean_stale_temp_files(run_dir)
        try:
            ctx = open_context(run_dir, settings, attempt)
        except (ConfigError, PipelineError) as exc:
            return RunResult(ExitCode.CONFIG_ERROR, str(exc))
        luigi_events.install()
        luigi_events.reset_failure_counts(str(run_dir))
        luigi_hygiene.apply(hygiene)
        final = final_task(str(run_dir), attempt)
        tasks = list(walk(final))
        warm_up(tasks)
        done = sorted(t.step_name() for t in tasks if t.complete())
        effective = luigi_hygiene.effective()
        log.info("luigi_config", workers=workers, **effective)
        ctx.events.emit(
            "run_started",
            total=len(tasks),
            done=len(done),
            done_tasks=done,
            workers=workers,
            detail=ctx.plan.detail,
            offline=ctx.offline,
            models=ctx.model_names,
            luigi=effective,
        )
        if handle_signals:
            previous = {s: signal.signal(s, _raise_interrupt) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            result = luigi.build(
                [final],
                worker_scheduler_factory=WorkerFactory(isolation=(settings or get_settings()).task_isolation),
                workers=workers,
                local_scheduler=not hygiene.scheduler_url,
                scheduler_url=hygiene.scheduler_url or "",
                detailed_summary=True,
            )
            exit_code = _STATUS_TO_EXIT.get(result.status, ExitCode.TASK_FAILED)
        except _Interrupted as exc:
            exit_code = ExitCode.INTERRUPTED
            log.warning("pipeline_interrupted", signal=str(exc))
        finally:
            if handle_signals:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
        failed, message = _failed_tasks(ctx)
        reason = exit_code.reason
        if exit_code is ExitCode.SUCCESS and not (run_dir / REPORT_FILE).exists():
            exit_code, reason = ExitCode.TASK_FAILED, "the run ended without writing report.html"
        elif exit_code is ExitCode.TASK_FAILED and message:
            reason = f"task failed: {message}"
        duration = time.perf_counter() - started
        ctx.events.emit(
            "run_finished",
            exit_code=int(exit_code),
            status=exit_code.name.lower(),
            reason=reason,
            failed_tasks=failed,
            duration_s=round(duration, 3),
        )
        return RunResult(exit_code, reason, failed, duration)
    finally:
        lock.release()
