"""A Luigi worker that runs code-only steps in its own process instead of forking one.

With more than one worker Luigi forks a process for every task. A step that
makes no LLM call (consolidating, computing the schedule, the digest, the
report) takes a few milliseconds, less than the fork, the child's start and
the result's trip back through a queue cost: run in the worker's process it
no longer pays them, and four of those steps lie on the plan's critical path.
They are bounded, deterministic code, so running them where a hang could not
be killed by the worker timeout gives nothing up that a real timeout protects.
"""

from __future__ import annotations

from typing import Any

import luigi.interface
import luigi.worker

from planexe.pipeline.base import PlanTask


def runs_inline(task: Any) -> bool:
    return isinstance(task, PlanTask) and type(task).code_only()


class InlineWorker(luigi.worker.Worker):
    def _create_task_process(self, task: Any) -> Any:
        process = super()._create_task_process(task)
        if runs_inline(task):
            process.use_multiprocessing = False
            process.timeout_time = None
        return process


class WorkerFactory(luigi.interface._WorkerSchedulerFactory):
    def create_worker(self, scheduler: Any, worker_processes: int, assistant: bool = False) -> Any:
        return InlineWorker(scheduler=scheduler, worker_processes=worker_processes, assistant=assistant)
