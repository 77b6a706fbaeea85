"""Luigi's worker and local scheduler, with three changes for a DAG of short steps.

Code-only steps run in the worker's own thread. With more than one worker
Luigi forks a process for every task; a step that makes no LLM call
(consolidating, computing the schedule, the digest, the report) takes a few
milliseconds, less than the fork, the child's start and the result's trip back
through a queue cost, and four of those steps lie on the plan's critical path.
They are bounded, deterministic code, so running them where a hang could not
be stopped by the worker timeout gives nothing up that a timeout protects.

With ``PLANEXE_TASK_ISOLATION=thread`` (the default) LLM steps run as threads
of the worker's process instead of forked processes (``ThreadTaskProcess``): a
forked process counts all of its parent's memory in its RSS, so ten of them
show ~10x the parent, and each pays a fork, a start and a queue trip; as
threads they share one process. What is given up is the hard kill: a step
past its timeout is cancelled at its next ``await``, which every LLM call and
retry wait is. ``process`` keeps Luigi's fork per step.

A step's worker timeout does not count the time its calls waited for a permit
(``PauseClock``): a provider that slows every plan down to its limits makes
steps slow, not hung.

The local scheduler prunes its task graph (retries due, workers gone) at most
every ``PRUNE_INTERVAL_S`` instead of on every request for work: pruning walks
every task, the worker asks for work after each finished step and every
``wait_interval`` while it waits, and its pruning was a tenth of the pipeline
process's time. A failed step becomes due for its retry up to that much later
than ``retry_delay`` says.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from typing import Any

import luigi.interface
import luigi.scheduler
import luigi.worker

from planexe.pipeline import cancellation
from planexe.pipeline.base import PlanTask


def runs_inline(task: Any) -> bool:
    return isinstance(task, PlanTask) and type(task).code_only()


class PauseClock:
    """Seconds a step's calls waited for permits; its timeout moves out by as much.

    A slot of shared memory for a forked step (the worker reads what the child adds), a
    plain number for a thread. Waits of calls in parallel overlap, so the largest single
    wait would undercount and the sum overcounts; the sum errs towards patience.
    """

    def __init__(self, shared: bool) -> None:
        self._slot = _shared_slot() if shared else None
        self._seconds = 0.0

    def add(self, seconds: float) -> None:
        if self._slot is not None:
            _SLOTS[self._slot] += seconds
        else:
            self._seconds += seconds

    @property
    def seconds(self) -> float:
        return float(_SLOTS[self._slot]) if self._slot is not None else self._seconds


# One block of shared memory for every forked step's clock, allocated once: a block per
# step would be freed by a garbage-collection finalizer, where a SIGTERM's exception is
# swallowed ("Exception ignored in ...") and the pipeline would not stop.
SLOT_COUNT = 256  # more than the steps that run at once; a slot is reused 256 steps later
_SLOTS: Any = None
_next_slot = 0


def _shared_slot() -> int:
    global _SLOTS, _next_slot
    if _SLOTS is None:
        _SLOTS = multiprocessing.RawArray("d", SLOT_COUNT)
    slot, _next_slot = _next_slot, (_next_slot + 1) % SLOT_COUNT
    _SLOTS[slot] = 0.0
    return slot


def _paused(task: Any) -> float:
    clock = getattr(task, "_planexe_pause", None)
    return clock.seconds if clock is not None else 0.0


class _PausableTaskProcess(luigi.worker.TaskProcess):
    """Luigi's forked task process whose deadline moves out by the step's permit waits."""

    @property
    def timeout_time(self) -> float | None:
        base = self.__dict__.get("_base_timeout_time")
        return None if base is None else base + _paused(self.task)

    @timeout_time.setter
    def timeout_time(self, value: float | None) -> None:
        self.__dict__["_base_timeout_time"] = value


class _DropAfterStop:
    """The worker's result queue as one step's thread sees it: once the worker has stopped
    the step (and already reported it failed), the thread's own late result is dropped, so
    it can never be taken for the result of the step's retry."""

    def __init__(self, queue: Any, stopped: threading.Event) -> None:
        self._queue = queue
        self._stopped = stopped

    def put(self, item: Any) -> None:
        if not self._stopped.is_set():
            self._queue.put(item)


class ThreadTaskProcess:
    """Luigi's task process for one step, run as a thread of the worker's process.

    The worker treats it like a forked one: it starts it, polls ``is_alive``,
    ``terminate``s it at its timeout or at shutdown, and waits for its result on
    the queue. Stopping cancels the step's event loop (see ``cancellation``).
    """

    use_multiprocessing = True  # makes the worker call start() and wait for the result

    def __init__(self, process: Any) -> None:
        self._process = process
        self.task = process.task
        self.worker_timeout = process.worker_timeout
        self._base_timeout_time = process.timeout_time
        self.exitcode: int | None = None
        self._stopped = threading.Event()
        process.use_multiprocessing = False
        process.result_queue = _DropAfterStop(process.result_queue, self._stopped)
        self._thread = threading.Thread(target=self._run, name=f"step {process.task.task_id}", daemon=True)

    @property
    def timeout_time(self) -> float | None:
        base = self._base_timeout_time
        return None if base is None else base + _paused(self.task)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            self._process.run()  # puts the step's result on the queue, whatever happens inside
            self.exitcode = 0
        except BaseException:
            self.exitcode = 1  # the worker reports a step that died without a result
            raise
        finally:
            cancellation.forget(threading.get_ident())

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def terminate(self) -> None:
        self._stopped.set()
        ident = self._thread.ident
        if ident is not None and self._thread.is_alive():
            cancellation.cancel(ident)


STOP_REQUESTED = threading.Event()


class Interrupted(KeyboardInterrupt):
    """The run was asked to stop (SIGTERM/SIGINT); unwinding through ``luigi.build`` makes
    the worker's ``__exit__`` terminate the steps still running."""


def request_stop(reason: str) -> None:
    """Called from the signal handler: raise now, and again wherever the worker looks next.

    The handler's exception lands wherever the main thread happens to be, and some places
    swallow it (a garbage-collection finalizer, logging's at-fork lock release print
    "Exception ignored in ..."); the flag makes the worker's own loop raise it again from a
    place that does not.
    """
    STOP_REQUESTED.set()
    raise Interrupted(reason)


def _stop_if_requested() -> None:
    if STOP_REQUESTED.is_set():
        raise Interrupted("stop requested")


class PlanWorker(luigi.worker.Worker):
    isolation = "process"  # or "thread": LLM steps as threads of this process

    # The worker's loop alternates between these two (a wait for results is one
    # wait_interval at most), so a stop that was swallowed is seen within one of them.
    def _get_work(self) -> Any:
        _stop_if_requested()
        return super()._get_work()

    def _handle_next_task(self) -> None:
        _stop_if_requested()
        super()._handle_next_task()

    def _create_task_process(self, task: Any) -> Any:
        process = super()._create_task_process(task)
        if runs_inline(task):
            process.use_multiprocessing = False
            process.timeout_time = None
            return process
        threaded = self.isolation == "thread" and process.use_multiprocessing
        task._planexe_pause = PauseClock(shared=not threaded)
        if threaded:
            return ThreadTaskProcess(process)
        if type(process) is luigi.worker.TaskProcess:
            deadline = process.timeout_time
            process.__class__ = _PausableTaskProcess
            process.timeout_time = deadline
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
    def __init__(self, isolation: str = "process") -> None:
        self.isolation = isolation

    def create_local_scheduler(self) -> Any:
        return LocalScheduler()

    def create_worker(self, scheduler: Any, worker_processes: int, assistant: bool = False) -> Any:
        worker = PlanWorker(scheduler=scheduler, worker_processes=worker_processes, assistant=assistant)
        worker.isolation = self.isolation
        return worker
