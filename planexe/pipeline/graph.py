"""The shape of a task graph: order, critical path, and each step's place on it.

Pure functions over task classes (``depends_on`` declares the edges), for any
DAG: the plan's own is handed in by the package that owns it (``planexe.plan``),
so this package never imports it. The standard library's ``graphlib`` orders
the steps and refuses a cycle.

The critical path is counted in LLM rounds: a single-call step is one round,
and a batch of N calls at concurrency C is ceil(N / C) rounds. With zero
orchestration overhead, a run can finish no faster than critical rounds times
the per-call latency, which is the bound the benchmark compares against.
"""

from __future__ import annotations

import graphlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from planexe.pipeline.base import PlanTask
from planexe.pipeline.rundir import Detail

if TYPE_CHECKING:
    from planexe.pipeline.context import RunContext

TaskClass = type[PlanTask]


@dataclass(frozen=True)
class Gate:
    """A first step the runner builds on its own, which may end the run before the rest starts.

    The plan's safety gate (``planexe/plan/safety.py``): built alone so that a refusal costs
    its one call (in one build, Luigi would start the steps beside it as soon as a worker is
    free). ``refusal`` reads its decision once it is done: None to go on, else what to record
    (category, reason, message); the run then builds ``report`` instead of the DAG and ends
    ``REFUSED``.
    """

    task: Callable[[str, int], PlanTask]  # (run_dir, run) -> the gate
    refusal: Callable[[Path], dict[str, str] | None]
    report: Callable[[str, int], PlanTask]  # writes a refused run's report


@dataclass(frozen=True)
class Dag:
    """What an entry point that owns a DAG hands the runner."""

    root: Callable[[str, int], PlanTask]  # (run_dir, run) -> the task whose completion ends the run
    # Refuse, before anything runs, a run that cannot finish (e.g. a model's context window
    # too small for the prompts); raises ConfigError.
    preflight: Callable[[RunContext], None] | None = None
    gate: Gate | None = None

    @property
    def root_class(self) -> TaskClass:
        return type(self.root("/nonexistent", 1))


@lru_cache(maxsize=16)
def task_order(root: TaskClass) -> tuple[TaskClass, ...]:
    """Every task ``root`` needs, ``root`` included, dependencies first (graphlib.CycleError on a cycle)."""
    graph: dict[TaskClass, tuple[TaskClass, ...]] = {}
    stack = [root]
    while stack:
        cls = stack.pop()
        if cls not in graph:
            graph[cls] = tuple(cls.depends_on)
            stack.extend(cls.depends_on)
    return tuple(graphlib.TopologicalSorter(graph).static_order())


@dataclass(frozen=True)
class DagStats:
    tasks: list[TaskClass]  # topological order, dependencies first
    edges: list[tuple[str, str]]  # (dependency, dependent) step names
    llm_calls: int
    critical_rounds: int
    critical_path: list[str]  # step names, first to last
    concurrency: int  # calls in flight per batched task the rounds assume


def dag_stats(root: TaskClass, detail: Detail, concurrency: int) -> DagStats:
    order = task_order(root)
    best: dict[TaskClass, tuple[int, TaskClass | None]] = {}
    for cls in order:
        rounds = cls.planned_rounds(detail, concurrency)
        prev = max(cls.depends_on, key=lambda d: best[d][0], default=None)
        best[cls] = ((best[prev][0] if prev else 0) + rounds, prev)
    path: list[str] = []
    node: TaskClass | None = root  # everything leads to it, so no path is longer
    while node is not None:
        path.append(node.step_name())
        node = best[node][1]
    return DagStats(
        tasks=list(order),
        edges=[(d.step_name(), c.step_name()) for c in order for d in c.depends_on],
        llm_calls=sum(c.planned_calls(detail) for c in order),
        critical_rounds=best[root][0],
        critical_path=path[::-1],
        concurrency=concurrency,
    )


@lru_cache(maxsize=16)
def remaining_rounds(root: TaskClass, detail: Detail, concurrency: int) -> dict[str, int]:
    """Per step, the LLM rounds on the longest path from its start to the end of the run."""
    order = task_order(root)
    dependents: dict[TaskClass, list[TaskClass]] = {cls: [] for cls in order}
    for cls in order:
        for dep in cls.depends_on:
            dependents[dep].append(cls)
    remaining: dict[TaskClass, int] = {}
    for cls in reversed(order):
        after = max((remaining[d] for d in dependents[cls]), default=0)
        remaining[cls] = cls.planned_rounds(detail, concurrency) + after
    return {cls.step_name(): rounds for cls, rounds in remaining.items()}


@lru_cache(maxsize=16)
def slack_rounds(root: TaskClass, detail: Detail, concurrency: int) -> dict[str, int]:
    """Per step, the LLM rounds it may be late without delaying the run (0 on the critical path)."""
    order = task_order(root)
    remaining = remaining_rounds(root, detail, concurrency)
    before: dict[TaskClass, int] = {}
    for cls in order:
        before[cls] = max(
            (before[d] + d.planned_rounds(detail, concurrency) for d in cls.depends_on), default=0
        )
    total = max(before[c] + remaining[c.step_name()] for c in order)
    return {c.step_name(): total - before[c] - remaining[c.step_name()] for c in order}


def to_mermaid(stats: DagStats, detail: Detail) -> str:
    lines = ["flowchart TD"]
    for cls in stats.tasks:
        calls = cls.planned_calls(detail)
        label = f"{cls.step_name()}<br/>{calls} call{'s' if calls != 1 else ''}"
        lines.append(f'    {cls.step_name()}["{label}"]')
    lines += [f"    {a} --> {b}" for a, b in stats.edges]
    lines += [f"    style {name} stroke-width:3px" for name in stats.critical_path]
    return "\n".join(lines)
