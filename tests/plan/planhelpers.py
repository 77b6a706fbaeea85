"""An offline plan run with the prompts every step sent, for tests of what reaches which prompt."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import luigi
from pydantic import BaseModel

from planexe.pipeline.context import open_context
from planexe.pipeline.luigi_worker import WorkerFactory
from planexe.pipeline.rundir import PlanSpec, write_plan
from planexe.plan import dag

PROMPT = "Open a small bakery in Copenhagen"


@dataclass
class RecordedPlan:
    run_dir: Path
    prompts: dict[str, list[str]] = field(default_factory=dict)  # step -> the user messages it sent

    def sent_by(self, step: str) -> str:
        """Every user message the step sent, one after the other."""
        return "\n\n".join(self.prompts[step])


def record_plan(
    run_dir: Path, detail: str = "full", prepare: Callable[[Path], None] | None = None
) -> RecordedPlan:
    write_plan(run_dir, PlanSpec(prompt=PROMPT, detail=detail))  # type: ignore[arg-type]
    if prepare is not None:
        prepare(run_dir)
    ctx = open_context(run_dir)
    recorded = RecordedPlan(run_dir)
    real = ctx.executor.structured

    async def recording(
        messages: list[dict[str, str]], output_type: type[BaseModel], *, step: str = ""
    ) -> Any:
        user = "\n".join(m["content"] for m in messages if m["role"] == "user")
        recorded.prompts.setdefault(step.split(":")[0], []).append(user)
        return await real(messages, output_type, step=step)

    ctx.executor.structured = recording  # type: ignore[method-assign]
    # Steps as threads of this process, so the recording wrapper sees every call.
    assert luigi.build(
        [dag.final_task(str(run_dir))],
        worker_scheduler_factory=WorkerFactory(isolation="thread"),
        local_scheduler=True,
        workers=1,
        log_level="WARNING",
    )
    return recorded
