"""Response bodies of a plan's DAG and its tasks (``/plans/{id}/dag``, ``/plans/{id}/tasks/{task}``)."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, Field

from planexe_api.services.plan_dag import DagTask, PlanDag
from planexe_api.services.plan_trace import LlmCall, PlanTrace, Span, TaskState


def _at(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts is not None else None


class SpanOut(BaseModel):
    run: int = Field(description="The pipeline run (the event's attempt number).")
    started_at: datetime
    ended_at: datetime | None
    outcome: str | None = Field(description="done, failed, timed_out, interrupted; null while it runs.")
    error: str | None

    @classmethod
    def of(cls, span: Span) -> SpanOut:
        started = _at(span.start)
        assert started is not None
        return cls(
            run=span.run,
            started_at=started,
            ended_at=_at(span.end),
            outcome=span.outcome.value if span.outcome else None,
            error=span.error,
        )


class TaskOut(BaseModel):
    name: str
    title: str
    state: TaskState
    llm_calls_planned: int
    rounds: int = Field(description="LLM rounds the task adds to a path through it.")
    batched: bool
    depends_on: list[str]
    dependents: list[str]
    on_critical_path: bool
    reused: bool = Field(description="Done by an earlier run of this plan.")
    runs: list[SpanOut] = Field(description="Each start of the task, oldest first.")
    error: str | None
    output: str | None = Field(description="URL of the task's output once it is done.")

    @classmethod
    def of(cls, plan_id: str, status: str, task: DagTask, trace: PlanTrace) -> TaskOut:
        traced = trace.tasks.get(task.name)
        state = trace.state_of(task.name, status)
        return cls(
            name=task.name,
            title=task.title,
            state=state,
            llm_calls_planned=task.llm_calls,
            rounds=task.rounds,
            batched=task.batched,
            depends_on=list(task.depends_on),
            dependents=list(task.dependents),
            on_critical_path=task.on_critical_path,
            reused=bool(traced and traced.reused),
            runs=[SpanOut.of(s) for s in traced.spans] if traced else [],
            error=traced.error if traced and state is TaskState.FAILED else None,
            output=f"/plans/{plan_id}/files/{task.output}" if state is TaskState.DONE else None,
        )


class DagOut(BaseModel):
    plan_id: str
    status: str
    detail: str
    concurrency: int = Field(description="LLM calls in flight per batched task, which sets its rounds.")
    critical_path: list[str] = Field(description="The longest path in LLM rounds, first task to last.")
    critical_rounds: int
    last_event_id: int = Field(description="The task states reflect the events up to this id.")
    states: dict[str, int] = Field(description="Tasks per state.")
    tasks: list[TaskOut] = Field(description="Topological order: every task after its dependencies.")

    @classmethod
    def of(cls, plan_id: str, status: str, dag: PlanDag, trace: PlanTrace) -> DagOut:
        tasks = [TaskOut.of(plan_id, status, t, trace) for t in dag.tasks]
        states = dict.fromkeys((s.value for s in TaskState), 0)
        for t in tasks:
            states[t.state.value] += 1
        return cls(
            plan_id=plan_id,
            status=status,
            detail=dag.detail,
            concurrency=dag.concurrency,
            critical_path=list(dag.critical_path),
            critical_rounds=dag.critical_rounds,
            last_event_id=trace.last_seq,
            states=states,
            tasks=tasks,
        )


class LlmCallOut(BaseModel):
    event_id: int
    at: datetime
    step: str = Field(description="The task, or task:label for one call of a batch.")
    model: str
    outcome: str = Field(description="ok, or the kind of error of a failed attempt.")
    attempt: int
    duration_s: float
    prompt_tokens: int
    completion_tokens: int
    detail: str | None = Field(description="The error of a failed attempt.")
    cached: bool = Field(
        default=False, description="Served from the plan's call checkpoints: an earlier run paid for it."
    )

    @classmethod
    def of(cls, call: LlmCall) -> LlmCallOut:
        at = _at(call.ts)
        assert at is not None
        return cls(
            event_id=call.seq,
            at=at,
            step=call.step,
            model=call.model,
            outcome=call.outcome,
            attempt=call.attempt,
            duration_s=call.duration_s,
            prompt_tokens=call.prompt_tokens,
            completion_tokens=call.completion_tokens,
            detail=call.detail,
            cached=call.cached,
        )


class TaskDetailOut(TaskOut):
    llm_calls: list[LlmCallOut] = Field(description="Every attempt of every call, oldest first.")
    llm_calls_total: int = Field(description="All attempts, also those past the list's cap.")
    prompt_tokens: int
    completion_tokens: int

    @classmethod
    def detail_of(cls, plan_id: str, status: str, task: DagTask, trace: PlanTrace) -> TaskDetailOut:
        base = TaskOut.of(plan_id, status, task, trace)
        traced = trace.tasks.get(task.name)
        calls = traced.calls if traced else []
        return cls(
            **base.model_dump(),
            llm_calls=[LlmCallOut.of(c) for c in calls],
            llm_calls_total=traced.calls_total if traced else 0,
            prompt_tokens=sum(c.prompt_tokens for c in calls),
            completion_tokens=sum(c.completion_tokens for c in calls),
        )
