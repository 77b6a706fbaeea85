"""PLANEXE_TASK_ISOLATION=thread: LLM steps as threads of the pipeline process."""

from __future__ import annotations

import asyncio
import json
import queue
import threading
import time
from pathlib import Path

import luigi
import luigi.worker
import pytest

from planexe.pipeline import cancellation
from planexe.pipeline.luigi_worker import ThreadTaskProcess
from planexe.plan.graph_command import plan_stats
from planexe.testing.llm_server import LLMServer, llm_server
from planexe.testing.pipeline import events, make_run_dir, run_to_end


@pytest.fixture(scope="module")
def server() -> LLMServer:
    with llm_server(seed=5, latency="fixed:0.02") as handle:
        yield handle


def test_a_plan_runs_every_step_in_the_pipeline_process(tmp_path: Path, server: LLMServer) -> None:
    run_dir = make_run_dir(tmp_path, detail="fast")
    env = {
        "PLANEXE_TASK_ISOLATION": "thread",
        "PLANEXE_LLM_BASE_URL": server.base_url,
        "PLANEXE_LLM_MODEL": "thread-model",
    }
    assert run_to_end(run_dir, env=env) == 0
    evs = events(run_dir)
    main_pid = next(e["pid"] for e in evs if e["kind"] == "run_started")
    assert {e["pid"] for e in evs} == {main_pid}
    stats = plan_stats("fast")
    assert {e["task"] for e in evs if e["kind"] == "task_succeeded"} == {c.step_name() for c in stats.tasks}
    assert (run_dir / "report.html").exists()
    # Steps ran side by side in one process; each output still names only the models that
    # answered for it (a shared per-executor record would mix them up).
    for cls in stats.tasks:
        envelope = json.loads((run_dir / cls.output_filename()).read_text())
        assert envelope["models"] == ([] if cls.code_only() else ["thread-model"]), (
            cls.step_name()
        )  # the env model's id, not its config entry's name


class _Sleeper(luigi.Task):
    """A step that waits on its event loop until it is stopped, or finishes after ``seconds``."""

    seconds = luigi.FloatParameter()
    tag = luigi.Parameter()

    def complete(self) -> bool:
        return False

    def run(self) -> None:
        async def main() -> None:
            ident = cancellation.enter()
            try:
                await asyncio.sleep(self.seconds)
            finally:
                cancellation.leave(ident)

        asyncio.run(main())


def _thread_process(task: luigi.Task, results: queue.Queue[object]) -> ThreadTaskProcess:
    reporter = luigi.worker.TaskStatusReporter(None, task.task_id, "w", None)
    process = luigi.worker.TaskProcess(task, "w", results, reporter, use_multiprocessing=True)
    return ThreadTaskProcess(process)


def test_terminate_cancels_the_step_and_drops_its_late_result() -> None:
    results: queue.Queue[object] = queue.Queue()
    step = _thread_process(_Sleeper(seconds=60, tag="stop"), results)
    step.start()
    deadline = time.monotonic() + 5
    while not cancellation._cancellers and time.monotonic() < deadline:
        time.sleep(0.005)
    assert step.is_alive()
    step.terminate()
    step.join(timeout=30)
    assert not step.is_alive()  # cancelled at its await: its 60 s sleep would still be running
    assert results.empty()  # the worker already reported the timeout; nothing else may arrive
    assert step.exitcode == 0


def test_a_step_that_finishes_reports_its_result() -> None:
    results: queue.Queue[object] = queue.Queue()
    task = _Sleeper(seconds=0.01, tag="done")
    step = _thread_process(task, results)
    step.start()
    step.join(timeout=5)
    task_id, status, *_ = results.get(timeout=1)  # type: ignore[misc]
    assert (task_id, status) == (task.task_id, "DONE")


def test_a_stop_that_comes_before_the_loop_starts_still_stops_it() -> None:
    outcome: list[str] = []

    def body() -> None:
        cancellation.cancel(threading.get_ident())

        async def main() -> None:
            cancellation.enter()
            outcome.append("ran")

        try:
            asyncio.run(main())
        except asyncio.CancelledError:
            outcome.append("cancelled")
        finally:
            cancellation.forget(threading.get_ident())

    thread = threading.Thread(target=body)
    thread.start()
    thread.join(timeout=5)
    assert outcome == ["cancelled"]
    assert not cancellation._doomed
