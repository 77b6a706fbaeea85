"""When will a plan be done: its remaining critical path times the LLM latency seen so far.

A plan's wall time follows its critical path counted in LLM rounds (a single
call is one round; a batch of N calls at concurrency C is ceil(N / C)). So:

    remaining = the longest path through the tasks not yet done, each task's
                rounds times the median latency of this plan's successful
                LLM calls so far, minus the time a running task has already
                spent (never below zero)

and the range uses the 25th and 90th percentiles of the same latencies
(batch rounds wait for their slowest call, so the high end matters more).
It narrows as the plan runs: fewer rounds are left to multiply, and more
calls make the percentiles steadier. With fewer than ``MIN_CALLS`` answers
there is no estimate, only the rounds left. It counts LLM time only: code-only
steps and scheduling add a little, retries and rate limits can add a lot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from planexe_api.db.models import PlanStatus
from planexe_api.services.plan_dag import PlanDag
from planexe_api.services.plan_trace import PlanTrace, TaskState

MIN_CALLS = 3  # successful LLM calls before an estimate is given


@dataclass(frozen=True)
class Eta:
    remaining_s: float | None  # best estimate; None until MIN_CALLS calls have answered
    low_s: float | None
    high_s: float | None
    remaining_rounds: int  # LLM rounds left on the critical path (running tasks counted whole)
    seconds_per_call: float | None  # median of the observed latencies
    calls_observed: int
    basis: str  # how this figure was computed, in one sentence


def _quantile(ordered: list[float], q: float) -> float:
    """Nearest-rank quantile of a sorted, non-empty list."""
    index = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
    return ordered[index]


def _remaining(dag: PlanDag, trace: PlanTrace, per_round: float, now: float | None) -> float:
    """The longest path through unfinished tasks; with ``now``, running tasks' time spent is taken off."""
    rest: dict[str, float] = {}
    for task in reversed(dag.tasks):
        traced = trace.tasks.get(task.name)
        if traced is not None and traced.state is TaskState.DONE:
            continue
        own = task.rounds * per_round
        span = traced.open_span if traced is not None else None
        if now is not None and span is not None:
            own = max(0.0, own - (now - span.start))
        rest[task.name] = own + max((rest[d] for d in task.dependents if d in rest), default=0.0)
    return max(rest.values(), default=0.0)


def estimate(dag: PlanDag, trace: PlanTrace, status: str, now: float) -> Eta | None:
    """The ETA of a queued or running plan; None once it has ended."""
    if PlanStatus(status).is_terminal:
        return None
    rounds = round(_remaining(dag, trace, 1.0, None))
    samples = sorted(trace.latencies)
    waiting = " It is waiting for a runner; the time counts from its start." if status == "queued" else ""
    if len(samples) < MIN_CALLS:
        return Eta(
            remaining_s=None,
            low_s=None,
            high_s=None,
            remaining_rounds=rounds,
            seconds_per_call=None,
            calls_observed=len(samples),
            basis=f"{rounds} LLM rounds left on the critical path; an estimate needs {MIN_CALLS} answered "
            f"LLM calls to time them, {len(samples)} so far.{waiting}",
        )
    low, mid, high = (_quantile(samples, q) for q in (0.25, 0.5, 0.9))
    return Eta(
        remaining_s=round(_remaining(dag, trace, mid, now), 1),
        low_s=round(_remaining(dag, trace, low, now), 1),
        high_s=round(_remaining(dag, trace, high, now), 1),
        remaining_rounds=rounds,
        seconds_per_call=round(mid, 3),
        calls_observed=len(samples),
        basis=f"{rounds} LLM rounds left on the critical path × {mid:.2f} s per call (the median of "
        f"{len(samples)} calls so far); the range uses their 25th–90th percentiles "
        f"({low:.2f}–{high:.2f} s). LLM time only.{waiting}",
    )
