"""A plan's history, folded from its event log: each task's state, runs and LLM calls.

The event log (``plan_events``) is the one record of what happened, on every
replica; this module reads it and nothing else (no run directory), so it works
for a plan that runs on another machine. Folding is incremental: a
``PlanTrace`` remembers the last event it applied, and ``TraceCache`` reads
only the events after it, so a page or a status request on a running plan
costs the few new events, not the whole log.

Task states follow the pipeline's runs: ``run_started`` names the tasks an
earlier run already finished (done, reused) and puts every other task back to
queued; a task that was running when its run ended without a word for it
(a killed service, a cancel) gets its bar closed as ``interrupted`` at the
moment the service learned of it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from planexe_api.db import repo_events
from planexe_api.db.models import PlanStatus
from planexe_api.services.store import Store

MAX_CALLS_PER_TASK = 500  # LLM call records kept per task (a runaway retry loop must not grow without end)
LATENCY_SAMPLES = 400  # most recent successful calls kept for the ETA
TRACE_CACHE_SIZE = 256  # plans whose folded history a process keeps


class TaskState(StrEnum):
    QUEUED = "queued"  # not started in the current run
    RUNNING = "running"  # started, not finished
    DONE = "done"  # its output exists (this run or an earlier one)
    FAILED = "failed"  # its last start failed or timed out
    SKIPPED = "skipped"  # never finished: the plan ended (failed or cancelled) before it ran


class SpanOutcome(StrEnum):
    DONE = "done"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    INTERRUPTED = "interrupted"  # its run ended (killed, cancelled, recovered) before the task did


@dataclass
class Span:
    """One start of a task, to its end."""

    run: int  # the pipeline run (the event's ``attempt``)
    start: float  # unix seconds
    end: float | None = None
    outcome: SpanOutcome | None = None
    error: str | None = None


@dataclass
class LlmCall:
    seq: int
    ts: float
    step: str  # task, or task:label for one call of a batch
    model: str
    outcome: str  # ok, or the error kind of a failed attempt
    attempt: int  # the attempt of this call on this model
    duration_s: float
    prompt_tokens: int
    completion_tokens: int
    detail: str | None
    cached: bool = False  # served from a call checkpoint: no call was made


@dataclass
class TaskTrace:
    state: TaskState = TaskState.QUEUED
    reused: bool = False  # done by an earlier run of the plan
    spans: list[Span] = field(default_factory=list)
    calls: list[LlmCall] = field(default_factory=list)
    calls_total: int = 0  # including records dropped past MAX_CALLS_PER_TASK
    error: str | None = None  # of the last failed start

    @property
    def open_span(self) -> Span | None:
        return self.spans[-1] if self.spans and self.spans[-1].end is None else None


@dataclass
class PlanTrace:
    last_seq: int = 0
    tasks: dict[str, TaskTrace] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)  # seconds, recent successful LLM calls
    runs: list[float] = field(default_factory=list)  # start of each pipeline run, unix seconds
    first_ts: float | None = None
    last_ts: float | None = None
    finished: dict[str, Any] | None = None  # the plan_finished event, once seen

    def task(self, name: str) -> TaskTrace:
        trace = self.tasks.get(name)
        if trace is None:
            trace = self.tasks[name] = TaskTrace()
        return trace

    def state_of(self, name: str, status: str) -> TaskState:
        """The task's state as shown for a plan in ``status``."""
        trace = self.tasks.get(name)
        state = trace.state if trace else TaskState.QUEUED
        if state in (TaskState.QUEUED, TaskState.RUNNING) and status in (
            PlanStatus.FAILED,
            PlanStatus.CANCELLED,
            PlanStatus.REFUSED,
        ):
            return TaskState.SKIPPED
        return state

    def apply(self, seq: int, kind: str, data: dict[str, Any], created_at: datetime | None = None) -> None:
        """Fold one event in; events at or before ``last_seq`` are ignored (applied already)."""
        if seq <= self.last_seq:
            return
        self.last_seq = seq
        ts = _ts(data, created_at)
        if ts is not None:
            self.first_ts = ts if self.first_ts is None else min(self.first_ts, ts)
            self.last_ts = ts if self.last_ts is None else max(self.last_ts, ts)
        name = str(data.get("task") or "")
        run = int(data.get("attempt") or 0)
        if kind == "run_started":
            self._run_started(data, ts)
        elif kind == "task_started" and name:
            task = self.task(name)
            self._close(task, ts, SpanOutcome.INTERRUPTED)
            task.spans.append(Span(run=run, start=ts or 0.0))
            task.state = TaskState.RUNNING
        elif kind == "task_succeeded" and name:
            task = self.task(name)
            self._close(task, ts, SpanOutcome.DONE)
            task.state = TaskState.DONE
            task.error = None
        elif kind in ("task_failed", "task_timed_out") and name:
            task = self.task(name)
            task.error = str(data.get("error") or kind)
            outcome = SpanOutcome.TIMED_OUT if kind == "task_timed_out" else SpanOutcome.FAILED
            # A timeout can be followed by a failure report for the same start: one bar, closed once.
            self._close(task, ts, outcome, task.error)
            task.state = TaskState.FAILED
        elif kind == "llm_call" and name:
            self._llm_call(seq, name, data, ts)
        elif kind == "plan_rerun":
            # Regenerated: no longer done, and what its next run does is not a reuse.
            for rerun in data.get("tasks") or []:
                task = self.task(str(rerun))
                task.state = TaskState.QUEUED
                task.reused = False
        elif kind in ("run_finished", "plan_requeued", "plan_recovered", "plan_cancelled", "plan_finished"):
            # The run is over: whatever still runs was stopped with it.
            for task in self.tasks.values():
                if self._close(task, ts, SpanOutcome.INTERRUPTED):
                    task.state = TaskState.QUEUED
            if kind == "plan_finished":
                self.finished = data

    def _run_started(self, data: dict[str, Any], ts: float | None) -> None:
        if ts is not None:
            self.runs.append(ts)
        done = set(data.get("done_tasks") or [])
        for name, task in self.tasks.items():
            self._close(task, ts, SpanOutcome.INTERRUPTED)
            if name not in done:
                task.state = TaskState.QUEUED
        for name in done:
            task = self.task(name)
            if task.state is not TaskState.DONE:
                task.state = TaskState.DONE
                task.reused = True

    def _llm_call(self, seq: int, name: str, data: dict[str, Any], ts: float | None) -> None:
        task = self.task(name)
        call = LlmCall(
            seq=seq,
            ts=ts or 0.0,
            step=str(data.get("step") or name),
            model=str(data.get("model") or "?"),
            outcome=str(data.get("outcome") or "?"),
            attempt=int(data.get("llm_attempt") or 1),
            duration_s=float(data.get("duration_s") or 0.0),
            prompt_tokens=int(data.get("prompt_tokens") or 0),
            completion_tokens=int(data.get("completion_tokens") or 0),
            detail=str(data["detail"]) if data.get("detail") else None,
            cached=bool(data.get("cached")),
        )
        task.calls_total += 1
        if len(task.calls) < MAX_CALLS_PER_TASK:
            task.calls.append(call)
        if call.outcome == "ok" and not call.cached:  # a reused answer took no time: not a latency
            self.latencies.append(call.duration_s)
            if len(self.latencies) > LATENCY_SAMPLES:
                del self.latencies[: len(self.latencies) - LATENCY_SAMPLES]

    @staticmethod
    def _close(task: TaskTrace, ts: float | None, outcome: SpanOutcome, error: str | None = None) -> bool:
        span = task.open_span
        if span is None:
            return False
        span.end = max(span.start, ts if ts is not None else span.start)
        span.outcome = outcome
        span.error = error
        return True


def _ts(data: dict[str, Any], created_at: datetime | None) -> float | None:
    # Pipeline events carry the time they happened; the service's own carry none, and
    # the row's insert time is when the service wrote them.
    value = data.get("ts")
    if isinstance(value, int | float):
        return float(value)
    return created_at.timestamp() if created_at is not None else None


EventRow = tuple[int, str, dict[str, Any], datetime | None]


def read_events(session: Session, plan_id: str, after_seq: int) -> list[EventRow]:
    """Every event after ``after_seq``, oldest first, a page at a time."""
    rows: list[EventRow] = []
    while True:
        page = repo_events.event_rows_after(session, plan_id, after_seq)
        rows += page
        if len(page) < repo_events.MAX_EVENTS_PAGE:
            return rows
        after_seq = page[-1][0]


def fold(rows: Iterable[EventRow], trace: PlanTrace | None = None) -> PlanTrace:
    trace = trace or PlanTrace()
    for seq, kind, data, created_at in rows:
        trace.apply(seq, kind, data, created_at)
    return trace


class TraceCache:
    """Folded histories of recently seen plans, brought up to date on demand.

    The database read runs in a worker thread; the fold runs on the caller's
    thread (the event loop), so readers never see a trace being changed under them.
    """

    def __init__(self, size: int = TRACE_CACHE_SIZE) -> None:
        self.size = size
        self._traces: OrderedDict[str, PlanTrace] = OrderedDict()
        self._lock = threading.Lock()  # the LRU order; traces are changed only by their readers' thread

    def forget(self, plan_id: str) -> None:
        """Drop the plan's trace (it was deleted)."""
        with self._lock:
            self._traces.pop(plan_id, None)

    async def get(self, store: Store, plan_id: str, last_seq: int) -> PlanTrace:
        """The plan's trace with every event up to ``last_seq`` (the plan row's ``last_event_seq``)."""
        with self._lock:
            trace = self._traces.get(plan_id)
            if trace is not None:
                self._traces.move_to_end(plan_id)
        if trace is None:
            trace = PlanTrace()
        if trace.last_seq < last_seq:
            after = trace.last_seq
            rows = await store.run(lambda s: read_events(s, plan_id, after))
            fold(rows, trace)
        with self._lock:
            self._traces[plan_id] = trace
            self._traces.move_to_end(plan_id)
            while len(self._traces) > self.size:
                self._traces.popitem(last=False)
        return trace
