"""The plan DAG: every step in report order, the final step, the gate, and what the graph costs.

The cost of a plan in wall time is its critical path counted in LLM rounds: a
single call is one round, a batch of N calls at concurrency C is ceil(N / C)
rounds, and code-only steps are free. Steps that only need the project plan
branch from it side by side, so the path stays short.

The safety gate is the first LLM step and every other one waits for it; the runner
builds it on its own before the rest, and a refusal builds ``REFUSAL_TASK`` (a short
report that says why) instead of the plan (see ``plan/safety.py``).
"""

from __future__ import annotations

from collections.abc import Iterable

from planexe.llm.config import HOSTED_CONCURRENCY
from planexe.pipeline.base import PlanTask
from planexe.pipeline.context import RunContext
from planexe.pipeline.graph import Dag, Gate, dag_stats, task_order
from planexe.pipeline.rundir import Detail
from planexe.plan.final import STEPS, Report
from planexe.plan.safety import RefusalReport, SafetyGate, refusal_record

# LLM rounds on the longest path at detail=full, at the default calls in flight
# per task for a hosted model and for a local one (see llm/config.py).
CRITICAL_PATH_BUDGET = 13
BUDGET_CONCURRENCY = HOSTED_CONCURRENCY
LOCAL_CRITICAL_PATH_BUDGET = 18

ALL_TASKS: list[type[PlanTask]] = [*STEPS, Report]
FINAL_TASK: type[PlanTask] = Report
GATE_TASK: type[PlanTask] = SafetyGate
REFUSAL_TASK: type[PlanTask] = RefusalReport  # runs only when the gate refused; not in ALL_TASKS


def final_task(run_dir: str, attempt: int = 1) -> PlanTask:
    """The task whose completion means the plan (and its report) is done."""
    return FINAL_TASK(run_dir=str(run_dir), attempt=attempt)


def gate_task(run_dir: str, attempt: int = 1) -> PlanTask:
    """The task that decides whether the plan is made at all; built before everything else."""
    return GATE_TASK(run_dir=str(run_dir), attempt=attempt)


def refusal_task(run_dir: str, attempt: int = 1) -> PlanTask:
    """The task that writes a refused plan's report."""
    return REFUSAL_TASK(run_dir=str(run_dir), attempt=attempt)


def reachable(root: type[PlanTask] = FINAL_TASK) -> list[type[PlanTask]]:
    """Every task ``root`` needs, ``root`` included, dependencies first (a cycle is a ValueError)."""
    return list(task_order(root))


def _preflight(ctx: RunContext) -> None:
    from planexe.plan.prompt_sizes import check_windows  # it runs an offline plan: imports this module

    check_windows(ctx.executor.chain, ctx.plan.detail, ctx.plan.prompt)


# What the pipeline's entry point (``python -m planexe.plan``) hands the runner.
PLAN_DAG = Dag(
    root=final_task,
    preflight=_preflight,
    gate=Gate(task=gate_task, refusal=refusal_record, report=refusal_task),
)


def planned_calls(detail: Detail, tasks: Iterable[type[PlanTask]] = ALL_TASKS) -> int:
    return sum(task.planned_calls(detail) for task in tasks)


def critical_path(
    detail: Detail = "full", concurrency: int = BUDGET_CONCURRENCY, root: type[PlanTask] = FINAL_TASK
) -> tuple[int, list[type[PlanTask]]]:
    """The longest path to ``root`` in LLM rounds, and its steps from first to last."""
    stats = dag_stats(root, detail, concurrency)
    by_name = {task.step_name(): task for task in stats.tasks}
    return stats.critical_rounds, [by_name[name] for name in stats.critical_path]
