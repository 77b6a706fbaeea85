"""Base classes for plan steps.

A step declares what it needs (``depends_on``), what it produces
(``output_model``, a pydantic model) and how many LLM calls it makes; the base
class handles the rest: one event loop per run, the LLM session, atomic output,
events. Outputs are wrapped in an envelope that records which models made them,
so an artefact made by the offline generator always says so.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import luigi
from pydantic import BaseModel

from planexe import faults
from planexe.llm.batch import run_batch_async
from planexe.llm.permits.context import on_permit_wait, step_slack
from planexe.llm.types import SessionUsage
from planexe.pipeline import cancellation, hygiene
from planexe.pipeline.context import RunContext, current_context
from planexe.pipeline.quoting import quote_output
from planexe.pipeline.reruns import TaskRerun, with_feedback
from planexe.pipeline.rundir import Detail, PlanSpec, atomic_write_text

M = TypeVar("M", bound=BaseModel)
A = TypeVar("A")
R = TypeVar("R")


def snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class PlanTask(luigi.Task):
    """A step of the plan; done when its JSON output exists in the run directory."""

    run_dir = luigi.Parameter(description="The plan's run directory.")
    # Part of every task id: on a shared luigid, a run's tasks are never taken for those of an
    # earlier run of the same run directory (one that died on another machine, say), which
    # luigid may still hold as running or, unshipped to this machine, as done.
    attempt = luigi.IntParameter(default=1, description="The run number (the service's fencing token).")

    depends_on: ClassVar[tuple[type[PlanTask], ...]] = ()
    output_model: ClassVar[type[BaseModel]]
    title: ClassVar[str] = ""  # heading in the report and prompts; defaults from the class name
    calls_full: ClassVar[int] = 0  # LLM calls the step makes at detail=full
    calls_fast: ClassVar[int | None] = None  # at detail=fast; None = same as full
    batched: ClassVar[bool] = False  # calls go out concurrently through run_batch_async
    quotable: ClassVar[bool] = True  # False: later prompts need not quote this step's output
    extra_outputs: ClassVar[tuple[str, ...]] = ()  # files written besides the JSON output (report.html)

    # ---- declarations, read by the graph command and the runner ----
    @classmethod
    def step_name(cls) -> str:
        return snake_case(cls.__name__)

    @classmethod
    def heading(cls) -> str:
        return cls.title or snake_case(cls.__name__).replace("_", " ").capitalize()

    @classmethod
    def output_filename(cls) -> str:
        return f"{cls.step_name()}.json"

    @classmethod
    def output_files(cls) -> tuple[str, ...]:
        """Every file the step writes, its JSON output first; the step is done when all exist."""
        return (cls.output_filename(), *cls.extra_outputs)

    @classmethod
    def planned_calls(cls, detail: Detail) -> int:
        return cls.calls_full if detail == "full" or cls.calls_fast is None else cls.calls_fast

    @classmethod
    def code_only(cls) -> bool:
        """True for a step that makes no LLM call at any detail."""
        return cls.calls_full == 0 and not cls.calls_fast

    @classmethod
    def planned_rounds(cls, detail: Detail, max_concurrency: int) -> int:
        """LLM calls on the critical path through this step (a batch overlaps its calls)."""
        calls = cls.planned_calls(detail)
        return math.ceil(calls / max_concurrency) if cls.batched and calls else calls

    @property
    def worker_timeout(self) -> int:  # type: ignore[override]
        # 160 s per round of calls, but never less than one full-length call of the
        # first model plus a retry's margin, so a slow model is not cut off mid-call.
        # A batch of N calls at concurrency C needs ~N/C rounds.
        first_timeout = self.ctx.executor.chain[0].timeout_s
        per_round = max(hygiene.DEFAULT_WORKER_TIMEOUT_S, int(first_timeout * 1.25 + 10))
        rounds = (
            max(1, self.planned_rounds(self.plan.detail, self.ctx.max_concurrent_llm)) if self.batched else 1
        )
        return per_round * rounds

    @property
    def priority(self) -> int:  # type: ignore[override]
        # When more tasks are ready than there are workers (11 become ready the moment
        # the project plan is done), the scheduler starts those with the longest way
        # still to go first; in definition order, a step on the critical path could
        # wait a whole LLM round for a worker behind a step with slack.
        return self.ctx.rounds_left.get(self.step_name(), 0)

    @property
    def retry_count(self) -> int:
        # Luigi sends this with every task it schedules. The local scheduler would apply its
        # own setting anyway, but a central luigid would use its own default (retry forever).
        return hygiene.retry_count()

    # ---- Luigi ----
    def requires(self) -> list[PlanTask]:
        # Luigi asks again at every scheduling pass and before each run, and building a
        # task instance re-reads each parameter's config (~0.1 ms); 700+ per plan unmemoised.
        deps: list[PlanTask] | None = self.__dict__.get("_planexe_requires")
        if deps is None:
            deps = [dep(run_dir=self.run_dir, attempt=self.attempt) for dep in self.depends_on]
            self.__dict__["_planexe_requires"] = deps
        return deps

    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(str(Path(self.run_dir) / self.output_filename()))

    def complete(self) -> bool:
        # All of the step's files, not only the JSON output: a run directory rebuilt from the
        # database with report.json but without report.html must run the report again.
        run_dir = Path(self.run_dir)
        return all((run_dir / name).exists() for name in self.output_files())

    def run(self) -> None:
        started = time.time()
        executor = self.ctx.executor
        # One event loop per task run, around the whole step (never one per item).
        result, usage = asyncio.run(self._produce_in_session())
        models = sorted(usage.models)
        offline_names = {spec.model_id for spec in executor.chain if spec.is_offline}
        envelope = {
            "step": self.step_name(),
            "title": self.heading(),
            # A code-only step is as offline as the run; an LLM step is offline if
            # every answer it used came from the offline generator.
            "offline": set(models) <= offline_names if models else self.ctx.offline,
            "models": models,
            "created_at": round(started, 3),
            "data": result.model_dump(mode="json"),
        }
        if usage.attempts or usage.reused:
            # What this step's calls used and cost; the task's success event repeats it.
            envelope["usage"] = self._planexe_usage = usage.summary()
        rerun = self.rerun
        if rerun is not None:
            # Which regeneration made this output, and what it was asked to change.
            envelope["rerun"] = {"generation": rerun.generation, "feedback": rerun.feedback}
        atomic_write_text(Path(self.output().path), json.dumps(envelope, ensure_ascii=False, indent=1))
        faults.reached("after_output", task=self.step_name(), run=self.attempt)

    async def _produce_in_session(self) -> tuple[BaseModel, SessionUsage]:
        ident = cancellation.enter()
        # When permits are scarce, calls of steps on the critical path are served first.
        step_slack.set(self.ctx.slack.get(self.step_name(), 0))
        # Waiting for a permit is the provider's pace, not a hung step: the worker timeout skips it.
        pause = getattr(self, "_planexe_pause", None)
        if pause is not None:
            on_permit_wait.set(pause.add)
        try:
            async with self.ctx.executor.session() as usage:
                return await self.produce(), usage
        finally:
            cancellation.leave(ident)

    # ---- for subclasses ----
    async def produce(self) -> BaseModel:
        raise NotImplementedError

    @property
    def ctx(self) -> RunContext:
        return current_context(self.run_dir)

    @property
    def plan(self) -> PlanSpec:
        return self.ctx.plan

    @property
    def detail(self) -> Detail:
        return self.plan.detail

    @property
    def rerun(self) -> TaskRerun | None:
        """The rerun that invalidated this task, if one did."""
        return self.ctx.reruns.get(self.step_name())

    def load(self, task_cls: type[PlanTask]) -> Any:
        """The validated output of an earlier step (an instance of its ``output_model``)."""
        path = Path(self.run_dir) / task_cls.output_filename()
        envelope = json.loads(path.read_text(encoding="utf-8"))
        if envelope.get("step") != task_cls.step_name():
            raise ValueError(f"{path} holds step {envelope.get('step')!r}, not {task_cls.step_name()!r}")
        return task_cls.output_model.model_validate(envelope["data"])

    def quote(self, *task_classes: type[PlanTask]) -> str:
        """Earlier steps' outputs as prompt sections: a heading, then the output's digest or compact
        text (``quoting.py``)."""
        return "\n\n".join(f"## {cls.heading()}\n{quote_output(self.load(cls))}" for cls in task_classes)

    def brief(self, *task_classes: type[PlanTask]) -> str:
        """The standard user message: the project description, then the quoted steps."""
        head = f"# Project description\n{self.plan.prompt}"
        body = self.quote(*task_classes)
        return f"{head}\n\n{body}" if body else head

    async def ask(self, system: str, user: str, output_type: type[M], label: str = "") -> M:
        """One structured call; a rerun's feedback is added to the message, and an answer kept
        from an earlier run of this very call is served without calling (``calls.py``)."""
        task = self.step_name()
        step = f"{task}:{label}" if label else task
        rerun = self.rerun
        if rerun is not None:
            user = with_feedback(user, rerun.feedback)
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        ctx = self.ctx
        if ctx.calls is None:
            return await ctx.executor.structured(messages, output_type, step=step)
        generation = rerun.generation if rerun is not None else 0
        return await ctx.calls.structured(
            ctx.executor, messages, output_type, step=step, task=task, generation=generation
        )

    async def batch(self, items: Sequence[A], fn: Callable[[A], Awaitable[R]]) -> list[R]:
        """``fn`` over ``items`` with at most PLANEXE_MAX_CONCURRENT_LLM in flight, in input order."""
        return await run_batch_async(items, fn, max_concurrency=self.ctx.max_concurrent_llm)


class LLMStep(PlanTask):
    """A step that is exactly one structured LLM call on ``brief(*depends_on)``."""

    system_prompt: ClassVar[str]
    calls_full = 1

    def user_prompt(self) -> str:
        # Steps that only restate the project description add nothing to quote.
        return self.brief(*(d for d in self.depends_on if d.quotable))

    async def produce(self) -> BaseModel:
        return await self.ask(self.system_prompt, self.user_prompt(), self.output_model)
