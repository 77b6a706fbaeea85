"""Per-process state shared by the tasks of one run.

Built once by the runner before Luigi starts any step. Steps run as threads of
the pipeline process by default and share it; with
``PLANEXE_TASK_ISOLATION=process`` each forked step inherits it. The executor
holds no open sockets at rest (clients live only inside a task's session),
which keeps that fork safe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from planexe.llm.budget import Budget, BudgetGuard
from planexe.llm.config import load_llm_config, max_concurrent_llm
from planexe.llm.executor import LLMExecutor
from planexe.llm.permits.client import BrokerPermits
from planexe.llm.retry import RetryPolicy
from planexe.pipeline.calls import CallBook
from planexe.pipeline.events import EventWriter
from planexe.pipeline.reruns import TaskRerun, read_reruns
from planexe.pipeline.rundir import EVENTS_FILE, PlanSpec, read_plan
from planexe.settings import Settings, get_settings


@dataclass
class RunContext:
    run_dir: Path
    plan: PlanSpec
    executor: LLMExecutor
    events: EventWriter
    max_concurrent_llm: int
    budget: BudgetGuard | None = None  # the plan's max_cost / max_tokens, when it has one
    # Per step, from the runner's DAG once per run: LLM rounds from its start to the end
    # (the scheduler's priority) and rounds it may be late (permit priority). Empty for a
    # task run outside the runner: every step then counts the same.
    rounds_left: dict[str, int] = field(default_factory=dict)
    slack: dict[str, int] = field(default_factory=dict)
    calls: CallBook | None = None  # the run's call checkpoints; None for an offline plan
    reruns: dict[str, TaskRerun] = field(default_factory=dict)  # tasks a rerun invalidated

    @property
    def offline(self) -> bool:
        return self.executor.is_offline

    @property
    def model_ids(self) -> list[str]:
        """The chain's models by their ids, as events and reports name them."""
        return [spec.model_id for spec in self.executor.chain]


_current: RunContext | None = None


def open_context(run_dir: Path, settings: Settings | None = None, attempt: int = 1) -> RunContext:
    """Read the plan and LLM config for ``run_dir`` and make it the current context."""
    global _current
    settings = settings or get_settings()
    run_dir = Path(run_dir).resolve()
    plan = read_plan(run_dir)
    chain = load_llm_config(settings).chain_for(plan.llm_model)
    events = EventWriter(run_dir / EVENTS_FILE, attempt=attempt)
    # Under the service, the runner's broker holds the limits for all of its plans; alone,
    # the executor's own permits hold them for this plan.
    socket = settings.llm_permit_socket
    budget = Budget.from_plan(plan.extra.get("budget"))
    guard = BudgetGuard(budget, events.path, attempt) if budget is not None else None
    executor = LLMExecutor(
        chain,
        policy=RetryPolicy.from_settings(settings),
        listeners=[events.llm_call],
        permits=BrokerPermits(socket, plan.plan_id or str(run_dir)) if socket else None,
        guard=guard.check if guard is not None else None,
    )
    _current = RunContext(
        run_dir,
        plan,
        executor,
        events,
        max_concurrent_llm(settings, chain),
        guard,
        calls=None if executor.is_offline else CallBook(run_dir),
        reruns=read_reruns(plan.extra.get("reruns")),
    )
    return _current


def current_context(run_dir: str | Path) -> RunContext:
    """The context for ``run_dir``, opened on first use (e.g. a task run by a bare ``luigi`` command)."""
    resolved = Path(run_dir).resolve()
    if _current is None or _current.run_dir != resolved:
        return open_context(resolved)
    return _current
