"""The structure of a plan's DAG as the service shows it: tasks, dependencies, critical path.

The DAG depends only on the plan's detail and on how many LLM calls a batched
task has in flight (which sets its rounds), never on the plan's progress, so
it is built once per pair and shared by every plan, page and request. The
concurrency is the one this service would give the plan's model chain; a
replica configured differently would batch differently (docs/dashboard.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from planexe.errors import LLMConfigError
from planexe.llm.config import LLMConfig, max_concurrent_llm
from planexe.pipeline.rundir import Detail
from planexe.settings import Settings


@dataclass(frozen=True)
class DagTask:
    name: str  # the step name, as in events and file names
    title: str
    llm_calls: int  # planned at this detail
    rounds: int  # LLM rounds the task adds to a path through it (a batch overlaps its calls)
    batched: bool
    depends_on: tuple[str, ...]
    dependents: tuple[str, ...]
    on_critical_path: bool
    output: str  # the output file's name in the run directory


@dataclass(frozen=True, eq=False)
class PlanDag:
    detail: str
    concurrency: int
    tasks: tuple[DagTask, ...]  # topological order, dependencies first
    critical_path: tuple[str, ...]  # first to last
    critical_rounds: int
    by_name: dict[str, DagTask] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {t.name: t for t in self.tasks})

    def downstream(self, names: Iterable[str]) -> tuple[str, ...]:
        """``names`` and every task that depends on them, directly or not, in dependency order."""
        marked = set(names)
        for task in self.tasks:  # topological: a task's dependencies come before it
            if any(dep in marked for dep in task.depends_on):
                marked.add(task.name)
        return tuple(task.name for task in self.tasks if task.name in marked)


@lru_cache(maxsize=8)
def plan_dag(detail: Detail, concurrency: int) -> PlanDag:
    """The DAG at ``detail`` with batches of ``concurrency`` calls in flight."""
    from planexe.plan.graph_command import plan_stats  # imports every plan step

    stats = plan_stats(detail, concurrency)
    on_path = set(stats.critical_path)
    dependents: dict[str, list[str]] = {cls.step_name(): [] for cls in stats.tasks}
    for dep, task in stats.edges:
        dependents[dep].append(task)
    tasks = tuple(
        DagTask(
            name=cls.step_name(),
            title=cls.heading(),
            llm_calls=cls.planned_calls(detail),
            rounds=cls.planned_rounds(detail, concurrency),
            batched=cls.batched,
            depends_on=tuple(d.step_name() for d in cls.depends_on),
            dependents=tuple(dependents[cls.step_name()]),
            on_critical_path=cls.step_name() in on_path,
            output=cls.output_filename(),
        )
        for cls in stats.tasks
    )
    return PlanDag(
        detail=detail,
        concurrency=concurrency,
        tasks=tasks,
        critical_path=tuple(stats.critical_path),
        critical_rounds=stats.critical_rounds,
    )


def dag_for(settings: Settings, llm_config: LLMConfig, detail: str, llm_model: str | None) -> PlanDag:
    """The DAG of a plan with this detail and first model, as this service would run it."""
    try:
        chain = llm_config.chain_for(llm_model)
    except LLMConfigError:
        # A model the config no longer knows: the plan will fail at start; draw the default chain's DAG.
        chain = llm_config.chain
    return plan_dag("fast" if detail == "fast" else "full", max_concurrent_llm(settings, chain))
