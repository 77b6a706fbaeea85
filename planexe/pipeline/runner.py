"""Run the plan DAG on a run directory with Luigi, and say how it ended."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import luigi
from luigi.execution_summary import LuigiStatusCode

from planexe.errors import ConfigError, PipelineError
from planexe.llm.executor import schema_of
from planexe.log import bind_process, get_logger
from planexe.pipeline import hygiene as luigi_hygiene
from planexe.pipeline import luigi_events, luigi_worker
from planexe.pipeline.base import PlanTask
from planexe.pipeline.context import RunContext, open_context
from planexe.pipeline.events import read_events
from planexe.pipeline.exitcodes import ExitCode
from planexe.pipeline.graph import Dag, Gate, remaining_rounds, slack_rounds, task_order
from planexe.pipeline.lock import RunDirLock
from planexe.pipeline.luigi_worker import WorkerFactory
from planexe.pipeline.reruns import supersede_stale
from planexe.pipeline.rundir import REPORT_FILE, clean_stale_temp_files
from planexe.pipeline.watchdog import watch_supervisor
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
    refusal: dict[str, str] | None = None  # the gate's category, reason and message, if it refused


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


def _failed_tasks(ctx: RunContext) -> tuple[list[str], str]:
    """Tasks whose last event in this run is a failure, the one that failed last first, and
    that failure's message (the task whose failure stopped the run)."""
    events, _ = read_events(ctx.events.path)
    last: dict[str, dict[str, object]] = {}
    for event in events:
        if event.get("attempt") == ctx.events.attempt and str(event.get("kind", "")).startswith("task_"):
            last.pop(str(event.get("task")), None)  # re-insert: dict order is the order of last events
            last[str(event.get("task"))] = event
    failed = [name for name, e in last.items() if e["kind"] in ("task_failed", "task_timed_out")]
    failed.reverse()
    message = f"{failed[0]}: {last[failed[0]].get('error', '')}" if failed else ""
    return failed, message


def _raise_interrupt(signum: int, _frame: FrameType | None) -> None:
    # Luigi's Worker.__exit__ terminates the running task processes when this
    # unwinds through luigi.build; outputs are atomic, so nothing half-done stays.
    # If the exception is swallowed where it lands, the worker raises it again
    # at its next look for work or results (luigi_worker.request_stop).
    luigi_worker.request_stop(signal.Signals(signum).name)


@dataclass(frozen=True)
class Supervision:
    """How a supervised pipeline behaves towards its supervisor and older runs (service only)."""

    lock_wait_s: float = 0.0  # wait this long for the run directory's lock (an older run stopping)
    stop_grace_s: float = 10.0  # SIGTERM to SIGKILL, for an older run holding the lock, and for us
    keepalive_fd: int | None = None  # the supervisor writes here; silence means it is frozen or gone
    keepalive_timeout_s: float = 0.0  # stop after this long without a keep-alive byte


class _CannotRun(Exception):
    """The run cannot start: how it ends and why, before any task ran."""

    def __init__(self, exit_code: ExitCode, reason: str) -> None:
        super().__init__(reason)
        self.exit_code = exit_code


def run_pipeline(
    run_dir: Path,
    *,
    dag: Dag,
    workers: int,
    hygiene: luigi_hygiene.Hygiene,
    attempt: int = 1,
    settings: Settings | None = None,
    handle_signals: bool = True,
    supervision: Supervision | None = None,
) -> RunResult:
    """Run ``dag`` on ``run_dir`` to the end, and say how it ended (also as run_finished)."""
    started = time.perf_counter()
    supervision = supervision or Supervision()
    run_dir = Path(run_dir).resolve()
    try:
        with _locked(run_dir, attempt, supervision):
            clean_stale_temp_files(run_dir)
            ctx = _open(run_dir, dag, settings, attempt)
            _watch(ctx, supervision)
            final = _prepare(ctx, dag, run_dir, attempt, workers, hygiene)
            exit_code, refusal = _build(final, dag.gate, workers, hygiene, settings, handle_signals)
            return _finish(ctx, run_dir, exit_code, started, refusal)
    except _CannotRun as exc:
        return RunResult(exc.exit_code, str(exc))


@contextmanager
def _locked(run_dir: Path, attempt: int, supervision: Supervision) -> Iterator[None]:
    """Hold the run directory's lock (stopping an older run of the plan that holds it)."""
    if not run_dir.is_dir():
        raise _CannotRun(ExitCode.CONFIG_ERROR, f"run directory {run_dir} does not exist")
    lock = RunDirLock(run_dir, run=attempt)
    try:
        lock.acquire(wait_s=supervision.lock_wait_s, grace_s=supervision.stop_grace_s)
    except PipelineError as exc:
        raise _CannotRun(ExitCode.LOCKED, str(exc)) from exc
    try:
        yield
    finally:
        lock.release()


def _open(run_dir: Path, dag: Dag, settings: Settings | None, attempt: int) -> RunContext:
    """The run's context, once the plan and its models are known to be usable."""
    try:
        ctx = open_context(run_dir, settings, attempt)
        # Every line this process logs names the plan and run, as the service's lines do.
        bind_process(plan_id=ctx.plan.plan_id, run=attempt)
        if dag.preflight is not None:
            dag.preflight(ctx)
    except (ConfigError, PipelineError) as exc:
        raise _CannotRun(ExitCode.CONFIG_ERROR, str(exc)) from exc
    return ctx


def _watch(ctx: RunContext, supervision: Supervision) -> None:
    """Under a supervisor, stop by ourselves when it falls silent (frozen, or gone)."""
    if supervision.keepalive_fd is not None and supervision.keepalive_timeout_s > 0:
        watch_supervisor(
            supervision.keepalive_fd,
            supervision.keepalive_timeout_s,
            supervision.stop_grace_s,
            on_stop=lambda reason: ctx.events.emit("supervisor_lost", reason=reason),
        )


def _prepare(
    ctx: RunContext, dag: Dag, run_dir: Path, attempt: int, workers: int, hygiene: luigi_hygiene.Hygiene
) -> PlanTask:
    """Install the event handlers and Luigi options, and announce the run with what is done."""
    luigi_events.install()
    luigi_events.reset_failure_counts(str(run_dir))
    luigi_hygiene.apply(hygiene)
    final = dag.root(str(run_dir), attempt)
    root, detail, concurrency = type(final), ctx.plan.detail, ctx.max_concurrent_llm
    ctx.rounds_left = remaining_rounds(root, detail, concurrency)
    ctx.slack = slack_rounds(root, detail, concurrency)
    # Luigi keeps one instance per task id, so these are the instances it will schedule.
    tasks = [cls(run_dir=str(run_dir), attempt=attempt) for cls in task_order(root)]
    warm_up(tasks)
    if ctx.reruns:
        # Before anything counts as done: a rerun task's older output must not.
        superseded = supersede_stale(run_dir, {t.step_name(): t.output_files() for t in tasks}, ctx.reruns)
        if superseded:
            log.info("outputs_superseded", tasks=superseded)
    done = sorted(t.step_name() for t in tasks if t.complete())
    effective = luigi_hygiene.effective()
    log.info("luigi_config", workers=workers, **effective)
    ctx.events.emit(
        "run_started",
        total=len(tasks),
        done=len(done),
        done_tasks=done,
        # Every file the finished plan has: the service completes a plan only once all are stored.
        outputs={name: t.step_name() for t in tasks for name in t.output_files()},
        workers=workers,
        detail=ctx.plan.detail,
        offline=ctx.offline,
        models=ctx.model_ids,
        luigi=effective,
    )
    return final


def _build(
    final: PlanTask,
    gate: Gate | None,
    workers: int,
    hygiene: luigi_hygiene.Hygiene,
    settings: Settings | None,
    handle_signals: bool,
) -> tuple[ExitCode, dict[str, str] | None]:
    """Run Luigi to the end (or to SIGTERM/SIGINT) and map its status to our exit code: the gate
    alone first, if the DAG has one, then the DAG, or the refusal's report if the gate refused
    (returned too: category, reason, message)."""
    previous = {}
    luigi_worker.STOP_REQUESTED.clear()
    if handle_signals:
        previous = {s: signal.signal(s, _raise_interrupt) for s in (signal.SIGTERM, signal.SIGINT)}
    run_dir, attempt = str(final.run_dir), int(final.attempt)
    try:
        if gate is not None:
            exit_code = _luigi_build(gate.task(run_dir, attempt), workers, hygiene, settings)
            if exit_code is not ExitCode.SUCCESS:
                return exit_code, None
            if luigi_worker.STOP_REQUESTED.is_set():
                return ExitCode.INTERRUPTED, None  # asked to stop between the two builds
            refusal = gate.refusal(Path(run_dir))
            if refusal is not None:
                log.warning("plan_refused", category=refusal.get("category"), reason=refusal.get("reason"))
                exit_code = _luigi_build(gate.report(run_dir, attempt), workers, hygiene, settings)
                return (ExitCode.REFUSED if exit_code is ExitCode.SUCCESS else exit_code), refusal
        return _luigi_build(final, workers, hygiene, settings), None
    except luigi_worker.Interrupted as exc:
        log.warning("pipeline_interrupted", signal=str(exc))
        return ExitCode.INTERRUPTED, None
    finally:
        # A stop asks this run to end; a later run in the same process (tests, `planexe
        # graph --prompts`) must not inherit it.
        luigi_worker.STOP_REQUESTED.clear()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _luigi_build(
    task: PlanTask, workers: int, hygiene: luigi_hygiene.Hygiene, settings: Settings | None
) -> ExitCode:
    result = luigi.build(
        [task],
        worker_scheduler_factory=WorkerFactory(isolation=(settings or get_settings()).task_isolation),
        workers=workers,
        local_scheduler=not hygiene.scheduler_url,
        scheduler_url=hygiene.scheduler_url or "",
        detailed_summary=True,
    )
    if luigi_worker.STOP_REQUESTED.is_set() and result.status not in (
        LuigiStatusCode.SUCCESS,
        LuigiStatusCode.SUCCESS_WITH_RETRY,
    ):
        return ExitCode.INTERRUPTED  # stopped steps look failed to Luigi; they were stopped
    return _STATUS_TO_EXIT.get(result.status, ExitCode.TASK_FAILED)


def _finish(
    ctx: RunContext,
    run_dir: Path,
    exit_code: ExitCode,
    started: float,
    refusal: dict[str, str] | None = None,
) -> RunResult:
    """Say how the run ended, in events.jsonl and to the caller."""
    failed, message = _failed_tasks(ctx)
    reason = exit_code.reason
    spent_out = ctx.budget.exceeded() if ctx.budget is not None else None
    if exit_code is ExitCode.SUCCESS and not (run_dir / REPORT_FILE).exists():
        exit_code, reason = ExitCode.TASK_FAILED, "the run ended without writing report.html"
    elif exit_code is ExitCode.TASK_FAILED and spent_out:
        # The steps that failed were refused their next call: the budget, not a model, stopped them.
        exit_code = ExitCode.BUDGET_EXCEEDED
        reason = f"budget exceeded: {spent_out}; its finished steps are kept: resume it with a higher budget"
    elif exit_code is ExitCode.TASK_FAILED and message:
        reason = f"task failed: {message}"
    elif exit_code is ExitCode.REFUSED and refusal is not None:
        reason = refusal_reason(refusal)
    duration = time.perf_counter() - started
    ctx.events.emit(
        "run_finished",
        exit_code=int(exit_code),
        status=exit_code.name.lower(),
        reason=reason,
        failed_tasks=failed,
        duration_s=round(duration, 3),
        **({"refusal": refusal} if refusal is not None and exit_code is ExitCode.REFUSED else {}),
    )
    return RunResult(exit_code, reason, failed, duration, refusal)


def refusal_reason(refusal: dict[str, str]) -> str:
    """A refused run's reason: the polite message to the person, then the recorded decision."""
    category = str(refusal.get("category", "")).replace("_", " ")
    return f"{refusal.get('message', '')} Reason: {refusal.get('reason', '')} (category: {category})"
