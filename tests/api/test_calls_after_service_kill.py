"""kill -9 of the whole service in the middle of a 15-call batch, recovery on another machine.

The service runs a full plan (wbs_level3: 15 calls, three in flight); once some of the
batch's answers are stored, the service is killed with SIGKILL (its pipeline dies with
it). A second service with a run directory of its own (another machine: nothing but the
database is shared) recovers the plan. It must pay for no answer the database holds:
the test server counts exactly the calls of the unfinished tasks that were not stored.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from planexe.pipeline.events import read_events
from planexe.pipeline.rundir import EVENTS_FILE
from planexe.plan.dag import ALL_TASKS
from planexe.plan.wbs import WbsLevel3
from planexe.testing.llm_server import LLMServer, llm_server
from planexe.testing.processes import pipeline_processes
from planexe.testing.service import Service, service_env
from planexe_api.db import repo_plans
from planexe_api.db.models import PlanLlmCall
from planexe_api.services.store import Store

pytestmark = pytest.mark.slow

TASKS = {cls.step_name(): cls for cls in ALL_TASKS}
BATCH = WbsLevel3.step_name()


@pytest.fixture(scope="module")
def llm() -> Iterator[LLMServer]:
    with llm_server(seed=23) as server:
        yield server


@pytest.fixture
def machines(db_url: str, tmp_path: Path, llm: LLMServer) -> Iterator[Callable[[str], Service]]:
    """Services on the test database, each with a work directory of its own (its own machine)."""
    started: list[Service] = []

    def start(name: str) -> Service:
        workdir = tmp_path / name
        workdir.mkdir()
        extra = {
            "PLANEXE_LLM_BASE_URL": llm.base_url,
            "PLANEXE_LLM_MODEL": "test-model",
            "PLANEXE_LLM_TIMEOUT_S": "10",
            "PLANEXE_MAX_CONCURRENT_LLM": "3",
        }
        service = Service(service_env(db_url, workdir, extra), workdir, name=name).start()
        started.append(service)
        return service

    yield start
    for service in started:
        service.close()


def stored_calls(store: Store, plan_id: str) -> dict[str, int]:
    """Stored call checkpoints by task."""

    def read(session: Any) -> dict[str, int]:
        stmt = (
            select(PlanLlmCall.task, func.count())
            .where(PlanLlmCall.plan_id == plan_id)
            .group_by(PlanLlmCall.task)
        )
        return {task: count for task, count in session.execute(stmt)}

    return store.run_sync(read)


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_plan_recovered_on_another_machine_pays_for_no_stored_answer(
    machines: Callable[[str], Service], store: Store, llm: LLMServer
) -> None:
    llm.configure(latency="fixed:0.2")
    try:
        first = machines("a")
        plan_id = first.submit(detail="full")["id"]
        wait_until(lambda: stored_calls(store, plan_id).get(BATCH, 0) >= 4, 180, "the batch half done")
        first.kill9()
        # Its pipeline dies with it (PR_SET_PDEATHSIG); nothing ships what it writes from here on.
        wait_until(lambda: not pipeline_processes(first.workdir), 30, "the pipeline to die")
    finally:
        llm.configure(latency="fixed:0")
    wait_until(lambda: llm.stats()["in_flight"] == 0, 30, "the killed requests to end")
    kept = stored_calls(store, plan_id)
    assert 4 <= kept[BATCH] < WbsLevel3.calls_full
    paid_before = store.run_sync(lambda s: repo_plans.get_plan(s, plan_id)).llm_calls

    llm.reset_stats()
    second = machines("b")
    plan = second.wait_status(plan_id, timeout=300)
    assert plan["status"] == "completed", plan
    run_dir = second.workdir / "runs" / plan_id
    evs = [e for e in read_events(run_dir / EVENTS_FILE)[0] if e.get("attempt") == plan["attempt"]]
    done_before = set(next(e for e in evs if e["kind"] == "run_started")["done_tasks"])
    to_run = set(TASKS) - done_before
    assert BATCH in to_run
    reused = sum(count for task, count in kept.items() if task in to_run)
    expected = sum(TASKS[t].planned_calls("full") for t in to_run) - reused
    stats = llm.stats()
    assert (stats["requests"], stats["completions_ok"]) == (expected, expected)
    assert sum(1 for e in evs if e["kind"] == "llm_call" and e.get("cached")) == reused
    # The plan's usage adds the calls paid for now, and not the answers served from the database.
    assert plan["llm_usage"]["calls"] == paid_before + expected
