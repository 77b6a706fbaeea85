"""kill -9 of the pipeline in the middle of a 15-call batch: the resumed run pays for no finished call.

wbs_level3 at full detail is the task with the most calls (15, one per work package). With
three calls in flight per task and 0.2 s per call, its batch takes five rounds; the
pipeline's whole process group is killed once a few of its calls have answered. The
resumed run must make exactly the calls that had not answered (the test server's own
counters say how many it made), and the plan must come out as an uninterrupted run's.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from planexe.pipeline.calls import CallBook, task_of
from planexe.pipeline.exitcodes import ExitCode
from planexe.plan.dag import ALL_TASKS
from planexe.plan.wbs import WbsLevel3
from planexe.testing.llm_server import LLMServer, llm_server
from planexe.testing.pipeline import events, make_run_dir, run_to_end, start_pipeline, wait_for

pytestmark = pytest.mark.slow

TASKS = {cls.step_name(): cls for cls in ALL_TASKS}
BATCH = WbsLevel3.step_name()
PROMPT = "Open a small bakery in Copenhagen"


@pytest.fixture(scope="module")
def server() -> Iterator[LLMServer]:
    with llm_server(seed=17) as handle:
        yield handle


def env(server: LLMServer, isolation: str) -> dict[str, str]:
    return {
        "PLANEXE_LLM_BASE_URL": server.base_url,
        "PLANEXE_LLM_MODEL": "test-model",
        "PLANEXE_LLM_TIMEOUT_S": "10",
        "PLANEXE_LLM_RETRY_BASE_DELAY_S": "0.01",
        "PLANEXE_MAX_CONCURRENT_LLM": "3",
        "PLANEXE_TASK_ISOLATION": isolation,
    }


def answered(evs: list[dict[str, Any]], task: str) -> int:
    return sum(1 for e in evs if e["kind"] == "llm_call" and e["task"] == task and e["outcome"] == "ok")


def outputs(run_dir: Path) -> dict[str, Any]:
    """What each task made (its data and the models that made it), without the times."""
    found = {}
    for name, cls in TASKS.items():
        envelope = json.loads((run_dir / cls.output_filename()).read_text())
        found[name] = (envelope["data"], envelope["models"])
    return found


def wait_idle(server: LLMServer) -> None:
    # Requests the killed pipeline left in flight end when the server sees the client gone.
    deadline = time.monotonic() + 30
    while server.stats()["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.02)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory, server: LLMServer) -> dict[str, Any]:
    run_dir = make_run_dir(tmp_path_factory.mktemp("whole"), prompt=PROMPT, detail="full")
    assert run_to_end(run_dir, env=env(server, "thread")) == ExitCode.SUCCESS
    return outputs(run_dir)


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_a_resumed_run_makes_exactly_the_calls_that_had_not_answered(
    tmp_path: Path, server: LLMServer, uninterrupted: dict[str, Any], isolation: str
) -> None:
    run_dir = make_run_dir(tmp_path, prompt=PROMPT, detail="full")
    server.configure(latency="fixed:0.2")
    try:
        process = start_pipeline(run_dir, env=env(server, isolation))
        wait_for(run_dir, lambda evs: answered(evs, BATCH) >= 4, timeout=180)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    finally:
        server.configure(latency="fixed:0")
    wait_idle(server)
    assert not (run_dir / WbsLevel3.output_filename()).exists(), "the batch must still be unfinished"
    kept = [task_of(name) for name in CallBook(run_dir).names()]
    kept_in_batch = kept.count(BATCH)
    assert 4 <= kept_in_batch < WbsLevel3.calls_full

    server.reset_stats()
    assert run_to_end(run_dir, "--attempt", "2", env=env(server, isolation), timeout=300) == ExitCode.SUCCESS
    second = [e for e in events(run_dir) if e.get("attempt") == 2]
    done_before = set(next(e for e in second if e["kind"] == "run_started")["done_tasks"])
    to_run = set(TASKS) - done_before
    assert BATCH in to_run
    kept_to_run = sum(1 for task in kept if task in to_run)
    expected = sum(TASKS[t].planned_calls("full") for t in to_run) - kept_to_run

    stats = server.stats()
    assert (stats["requests"], stats["completions_ok"]) == (expected, expected)
    calls = [e for e in second if e["kind"] == "llm_call"]
    assert sum(1 for e in calls if e.get("cached")) == kept_to_run
    batch = [e for e in calls if e["task"] == BATCH]
    assert sum(1 for e in batch if e.get("cached")) == kept_in_batch
    assert sum(1 for e in batch if not e.get("cached")) == WbsLevel3.calls_full - kept_in_batch
    # The batch's output counts every call that made it, the reused ones at what they cost.
    usage = json.loads((run_dir / WbsLevel3.output_filename()).read_text())["usage"]
    assert (usage["calls"], usage["reused_calls"]) == (WbsLevel3.calls_full, kept_in_batch)

    assert outputs(run_dir) == uninterrupted
