"""Luigi's worker and local scheduler, with two changes for a DAG of short steps.

Code-only steps run in the worker's process instead of a forked one. With more than one worker Luigi forks a process for every task. A step that
makes no LLM call (consolidating, computing the schedule, the digest, the
report) takes a few milliseconds, less than the fork, the child's start and
the result's trip back through a queue cost: run in the worker's process it
no longer pays them, and four of those steps lie on the plan's critical path.
They are bounded, deterministic code, so running them where a hang could not
be killed by the worker timeout gives nothing up that a real timeout protects.

The local scheduler prunes its task graph (retries due, workers gone) at most
every ``PRUNE_INTERVAL_S`` instead of on every request for work: pruning walks
every task, the worker asks for work after each finished step and every
``wait_interval`` while it waits, and its pruning was a tenth of the pipeline
process's time. A failed step becomes due for its retry up to that much later
than ``retry_delay`` says.
"""

from __future__ import annotations

import time
from typing import Any

import luigi.interface
import luigi.scheduler
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


PRUNE_INTERVAL_S = 0.5


class LocalScheduler(luigi.scheduler.Scheduler):
    def __init__(self) -> None:
        super().__init__(prune_on_get_work=False, record_task_history=False)
        self._next_prune = 0.0

    def get_work(self, *args: Any, **kwargs: Any) -> Any:
        now = time.monotonic()
        if now >= self._next_prune:
            self.prune()
            self._next_prune = now + PRUNE_INTERVAL_S
        return super().get_work(*args, **kwargs)


class WorkerFactory(luigi.interface._WorkerSchedulerFactory):
    def create_local_scheduler(self) -> Any:
        return LocalScheduler()

    def create_worker(self, scheduler: Any, worker_processes: int, assistant: bool = False) -> Any:
        return InlineWorker(scheduler=scheduler, worker_processes=worker_processes, assistant=assistant)
