"""The plan DAG: every step in report order, the final step, and what the graph costs.

The cost of a plan in wall time is its critical path counted in LLM rounds: a
single call is one round, a batch of N calls at concurrency C is ceil(N / C)
rounds, and code-only steps are free. Steps that only need the project plan
branch from it side by side, so the path stays short.
"""

from __future__ import annotations

from collections.abc import Iterable

from planexe.llm.config import HOSTED_CONCURRENCY
from planexe.pipeline.base import PlanTask
from planexe.pipeline.rundir import Detail
from planexe.plan.final import STEPS, Report

# LLM rounds on the longest path at detail=full, at the default calls in flight
# per task for a hosted model and for a local one (see llm/config.py).
CRITICAL_PATH_BUDGET = 12
BUDGET_CONCURRENCY = HOSTED_CONCURRENCY
LOCAL_CRITICAL_PATH_BUDGET = 17

ALL_TASKS: list[type[PlanTask]] = [*STEPS, Report]
FINAL_TASK: type[PlanTask] = Report


def final_task(run_dir: str, attempt: int = 1) -> PlanTask:
    """The task whose completion means the plan (and its report) is done."""
    return FINAL_TASK(run_dir=str(run_dir), attempt=attempt)


def reachable(root: type[PlanTask] = FINAL_TASK) -> list[type[PlanTask]]:
    """Every task ``root`` needs, ``root`` included, dependencies first."""
    seen: dict[type[PlanTask], None] = {}

    def visit(task: type[PlanTask], path: tuple[type[PlanTask], ...]) -> None:
        if task in path:
            cycle = " -> ".join(t.step_name() for t in (*path, task))
            raise ValueError(f"dependency cycle: {cycle}")
        if task in seen:
            return
        for dep in task.depends_on:
            visit(dep, (*path, task))
        seen[task] = None

    visit(root, ())
    return list(seen)


def planned_calls(detail: Detail, tasks: Iterable[type[PlanTask]] = ALL_TASKS) -> int:
    return sum(task.planned_calls(detail) for task in tasks)


def critical_path(
    detail: Detail = "full", concurrency: int = BUDGET_CONCURRENCY, root: type[PlanTask] = FINAL_TASK
) -> tuple[int, list[type[PlanTask]]]:
    """The longest path to ``root`` in LLM rounds, and its steps from first to last."""
    best: dict[type[PlanTask], tuple[int, list[type[PlanTask]]]] = {}
    for task in reachable(root):
        before = max((best[dep] for dep in task.depends_on), key=lambda b: b[0], default=(0, []))
        best[task] = (before[0] + task.planned_rounds(detail, concurrency), [*before[1], task])
    return best[root]
