"""The parts of Luigi that are not its public API, and that the pipeline relies on.

pyproject.toml pins Luigi to the minor versions these ran on. When an upgrade
renames or reshapes one of them, this file fails first and says which, instead
of a plan hanging or a step never timing out in production.
"""

from __future__ import annotations

import inspect

import luigi.interface
import luigi.scheduler
import luigi.worker
import pytest

PRIVATE_METHODS = [
    # luigi_worker.PlanWorker overrides these three.
    (luigi.worker.Worker, "_create_task_process", ["task"]),
    (luigi.worker.Worker, "_get_work", []),
    (luigi.worker.Worker, "_handle_next_task", []),
    # Called by Worker.__exit__ and _purge_children on what _create_task_process returns.
    (luigi.worker.TaskProcess, "terminate", []),
    (luigi.worker.TaskProcess, "run", []),
    # WorkerFactory extends it; luigi.build(worker_scheduler_factory=...) calls these.
    (luigi.interface._WorkerSchedulerFactory, "create_local_scheduler", []),
    (
        luigi.interface._WorkerSchedulerFactory,
        "create_worker",
        ["scheduler", "worker_processes", "assistant"],
    ),
]


@pytest.mark.parametrize(
    ("owner", "name", "params"), PRIVATE_METHODS, ids=lambda v: getattr(v, "__name__", v)
)
def test_the_private_methods_we_override_or_call_still_exist(
    owner: type, name: str, params: list[str]
) -> None:
    method = getattr(owner, name, None)
    assert callable(method), f"{owner.__module__}.{owner.__qualname__}.{name} is gone"
    signature = [p for p in inspect.signature(method).parameters if p != "self"]
    assert signature[: len(params)] == params, (
        f"{owner.__qualname__}.{name}{inspect.signature(method)} changed"
    )


def test_a_task_process_has_the_fields_the_worker_and_we_read() -> None:
    # ThreadTaskProcess and _PausableTaskProcess read and replace these.
    process = luigi.worker.TaskProcess(
        luigi.Task(),
        "worker-1",
        result_queue=None,
        status_reporter=None,
        worker_timeout=5,
        use_multiprocessing=True,
    )
    for field in ("task", "worker_timeout", "timeout_time", "result_queue", "use_multiprocessing"):
        assert hasattr(process, field), f"TaskProcess.{field} is gone"
    assert process.timeout_time is not None  # set from worker_timeout at construction


def test_the_worker_keeps_its_running_tasks_and_stop_flag_where_we_look() -> None:
    source = inspect.getsource(luigi.worker.Worker)
    for name in ("self._running_tasks", "self._stop_requesting_work", "self._task_result_queue"):
        assert name in source, f"Worker no longer has {name}"


def test_the_scheduler_still_takes_the_options_we_pass() -> None:
    # Scheduler(**kwargs) hands them to its config class, which would ignore an unknown one.
    config = luigi.scheduler.scheduler(prune_on_get_work=False, record_task_history=False)
    assert config.prune_on_get_work is False and config.record_task_history is False
    # LocalScheduler calls prune() itself, and luigi_events/hygiene read these.
    assert callable(luigi.scheduler.Scheduler.prune)
    assert hasattr(luigi.scheduler.scheduler(), "retry_count")
