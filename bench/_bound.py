"""The critical-path bound: how fast a plan could run with zero orchestration cost.

Fixed latency: ``dag_stats`` counts the critical path in LLM rounds (a batch of
N calls at concurrency C is ceil(N / C) rounds), so the bound is rounds x latency.

Log-normal latency: every call has its own latency, so the bound is the longest
path through the DAG where a task costs the time its own calls need: their sum
for a one-call-at-a-time step, and the makespan of the calls on C slots (in the
order they were sent) for a batched step. The latencies are the server's own
draws, replayed from its seed (it draws one fault number and one latency per
request, in arrival order) and matched to the calls in the order the pipeline
sent them (an ``llm_call`` event's ``ts`` minus its ``duration_s``).
"""

from __future__ import annotations

import heapq
import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from _common import median, percentile

from planexe.llm.server.faults import draw_fault
from planexe.llm.server.options import ServerOptions
from planexe.plan.graph_command import plan_stats


def fixed_bound(detail: str, concurrency: int, latency_s: float) -> tuple[float, int]:
    """(bound in seconds, critical rounds) for a fixed per-call latency."""
    rounds = plan_stats(detail, concurrency).critical_rounds  # type: ignore[arg-type]
    return rounds * latency_s, rounds


def replay_draws(options: ServerOptions, count: int) -> list[float]:
    """The latencies the server drew for its first ``count`` requests after (re)seeding."""
    rng = random.Random(options.seed)
    spec = options.latency_spec
    out = []
    for _ in range(count):
        draw_fault(options, rng)
        out.append(spec.sample(rng, options.scale))
    return out


def _makespan(durations: list[float], slots: int) -> float:
    """List scheduling in the given order on ``slots`` parallel slots."""
    free = [0.0] * max(1, slots)
    for d in durations:
        start = heapq.heappop(free)
        heapq.heappush(free, start + d)
    return max(free)


@dataclass
class ObservedBound:
    bound_s: float  # with the server's drawn latencies
    bound_observed_s: float  # with the client-measured call durations (latency + HTTP + validation)
    critical_path: list[str]
    calls: int
    client_overhead_ms_p50: float  # measured duration minus drawn latency, per call
    client_overhead_ms_p95: float
    mismatched_calls: int  # calls shorter than their matched draw (the order guess was wrong)

    def figures(self) -> dict[str, Any]:
        return {
            "bound_s": self.bound_s,
            "bound_observed_s": self.bound_observed_s,
            "critical_path": self.critical_path,
            "llm_calls": self.calls,
            "client_overhead_ms_p50": self.client_overhead_ms_p50,
            "client_overhead_ms_p95": self.client_overhead_ms_p95,
            "mismatched_calls": self.mismatched_calls,
        }


def _longest_path(detail: str, concurrency: int, cost: dict[str, float]) -> tuple[float, list[str]]:
    stats = plan_stats(detail, concurrency)  # type: ignore[arg-type]
    best: dict[str, tuple[float, str | None]] = {}
    for cls in stats.tasks:  # dependencies first
        name = cls.step_name()
        prev = max((d.step_name() for d in cls.depends_on), key=lambda d: best[d][0], default=None)
        best[name] = ((best[prev][0] if prev else 0.0) + cost.get(name, 0.0), prev)
    end = max(best, key=lambda n: best[n][0])
    path: list[str] = []
    node: str | None = end
    while node is not None:
        path.append(node)
        node = best[node][1]
    return best[end][0], path[::-1]


def observed_bound(
    events: list[dict[str, Any]], detail: str, concurrency: int, options: ServerOptions
) -> ObservedBound:
    calls = sorted((e for e in events if e["kind"] == "llm_call"), key=lambda e: e["ts"] - e["duration_s"])
    draws = replay_draws(options, len(calls))
    batched = {c.step_name(): c.batched for c in plan_stats(detail, concurrency).tasks}  # type: ignore[arg-type]
    drawn: dict[str, list[float]] = defaultdict(list)
    measured: dict[str, list[float]] = defaultdict(list)
    overheads = []
    for call, delay in zip(calls, draws, strict=True):
        drawn[call["task"]].append(delay)
        measured[call["task"]].append(call["duration_s"])
        overheads.append(call["duration_s"] - delay)

    def cost(per_task: dict[str, list[float]]) -> dict[str, float]:
        return {
            task: _makespan(ds, concurrency) if batched.get(task) else sum(ds)
            for task, ds in per_task.items()
        }

    bound, path = _longest_path(detail, concurrency, cost(drawn))
    bound_observed, _ = _longest_path(detail, concurrency, cost(measured))
    return ObservedBound(
        bound_s=bound,
        bound_observed_s=bound_observed,
        critical_path=path,
        calls=len(calls),
        client_overhead_ms_p50=1000 * median(overheads),
        client_overhead_ms_p95=1000 * percentile(overheads, 95),
        mismatched_calls=sum(1 for o in overheads if o < -0.002),
    )
