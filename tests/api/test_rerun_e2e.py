"""Regenerate a section with real processes: the service, its pipeline and the test LLM server.

A fast plan completes; then ``cost_estimates`` (mid-DAG, five calls) is rerun with
feedback. The rerun must make exactly the LLM calls of that task and its descendants
(the server counts them and records their prompts, each with the feedback), leave every
other output byte for byte as it was, keep the replaced outputs as earlier versions and
rebuild the report. A second test kills the service in the middle of the rerun and lets
another machine finish it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from planexe.pipeline.events import read_events
from planexe.pipeline.rundir import EVENTS_FILE
from planexe.plan.dag import ALL_TASKS
from planexe.testing.llm_server import LLMServer, llm_server
from planexe.testing.processes import pipeline_processes
from planexe.testing.service import Service, service_env
from planexe_api.db import repo_versions
from planexe_api.db.models import PlanLlmCall
from planexe_api.services.store import Store

pytestmark = pytest.mark.slow

TASKS = {cls.step_name(): cls for cls in ALL_TASKS}
ASKED = "cost_estimates"
FEEDBACK = "Make the budget fit 300k EUR."
BATCH = "review_plan"  # downstream of ASKED: four calls at detail fast


@pytest.fixture(scope="module")
def llm() -> Iterator[LLMServer]:
    with llm_server(seed=29, record_requests=1000) as server:
        yield server


@pytest.fixture
def machines(db_url: str, tmp_path: Path, llm: LLMServer) -> Iterator[Callable[..., Service]]:
    """Services on the test database, each with a work directory of its own (its own machine)."""
    started: list[Service] = []

    def start(name: str, **more: str) -> Service:
        workdir = tmp_path / name
        workdir.mkdir()
        extra = {
            "PLANEXE_LLM_BASE_URL": llm.base_url,
            "PLANEXE_LLM_MODEL": "test-model",
            "PLANEXE_LLM_TIMEOUT_S": "10",
            **more,
        }
        service = Service(service_env(db_url, workdir, extra), workdir, name=name).start()
        started.append(service)
        return service

    yield start
    for service in started:
        service.close()


def stored_files(svc: Service, plan_id: str) -> dict[str, bytes]:
    listing = svc.http.get(f"/plans/{plan_id}/files").json()
    return {f["name"]: svc.http.get(f"/plans/{plan_id}/files/{f['name']}").content for f in listing}


def last_run(run_dir: Path) -> list[dict[str, Any]]:
    """The events of the run directory's last run (each line's ``attempt`` is its run number)."""
    events = read_events(run_dir / EVENTS_FILE)[0]
    run = max(e["attempt"] for e in events if e["kind"] == "run_started")
    return [e for e in events if e.get("attempt") == run]


def task_of(name: str) -> str:
    return "report" if name == "report.html" else name.removesuffix(".json")


def completed_plan(svc: Service) -> tuple[str, dict[str, bytes]]:
    plan_id = svc.submit(detail="fast")["id"]
    plan = svc.wait_status(plan_id, timeout=240)
    assert plan["status"] == "completed", plan
    return plan_id, stored_files(svc, plan_id)


def test_a_rerun_makes_exactly_the_calls_of_the_task_and_its_descendants(
    machines: Callable[..., Service], store: Store, llm: LLMServer
) -> None:
    svc = machines("a")
    plan_id, before = completed_plan(svc)
    llm.reset_stats()  # and the recorded requests

    answer = svc.http.post(f"/plans/{plan_id}/rerun", json={"tasks": [ASKED], "feedback": FEEDBACK})
    assert answer.status_code == 202, answer.text
    rerun = answer.json()
    invalidated = rerun["tasks"]
    expected = sum(TASKS[t].planned_calls("fast") for t in invalidated)
    assert rerun["llm_calls_planned"] == expected
    plan = svc.wait_status(plan_id, timeout=240)
    assert plan["status"] == "completed", plan

    # Exactly the calls of the invalidated tasks, every one with the feedback in its prompt.
    stats = llm.stats()
    assert (stats["requests"], stats["completions_ok"]) == (expected, expected)
    prompts = [" ".join(m["content"] for m in r["messages"]) for r in llm.requests()]
    assert len(prompts) == expected and all(FEEDBACK in p for p in prompts)
    run_dir = svc.workdir / "runs" / plan_id
    last = last_run(run_dir)
    calls = {}
    for event in last:
        if event["kind"] == "llm_call" and event["outcome"] == "ok":
            calls[event["task"]] = calls.get(event["task"], 0) + 1
    assert calls == {t: TASKS[t].planned_calls("fast") for t in invalidated if TASKS[t].planned_calls("fast")}
    assert {e["task"] for e in last if e["kind"] == "task_started"} == set(invalidated)

    # Untouched outputs byte for byte; the invalidated ones new, with the rerun recorded in them.
    after = stored_files(svc, plan_id)
    assert set(after) == set(before)
    untouched = [n for n in before if task_of(n) not in invalidated]
    assert untouched and all(after[n] == before[n] for n in untouched)
    changed = [n for n in before if task_of(n) in invalidated]
    assert all(after[n] != before[n] for n in changed)
    envelope = json.loads(after[f"{ASKED}.json"])
    assert envelope["rerun"] == {"generation": 1, "feedback": FEEDBACK}
    assert envelope["data"] != json.loads(before[f"{ASKED}.json"])["data"]
    assert svc.http.get(f"/plans/{plan_id}/report").content == after["report.html"] != before["report.html"]

    # The replaced outputs are earlier versions, in the database: listed, and downloadable.
    versions = store.run_sync(lambda s: repo_versions.list_versions(s, plan_id))
    assert sorted(v.name for v in versions) == sorted(changed) == rerun["superseded_files"]
    listed = svc.http.get(f"/plans/{plan_id}/files", params={"versions": "true"}).json()
    earlier = {f["name"]: f["url"] for f in listed if not f["current"]}
    assert sorted(earlier) == sorted(changed)
    assert all(svc.http.get(url).content == before[name] for name, url in earlier.items())
    # The event log says who asked for what.
    [event] = [e for e in svc.events(plan_id) if e["event"] == "plan_rerun"]
    assert event["data"]["tasks"] == invalidated and event["data"]["feedback"] == FEEDBACK
    assert event["data"]["requested_by"]["via"] == "api"


def stored_calls(store: Store, plan_id: str) -> dict[str, int]:
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


def test_a_rerun_killed_halfway_is_finished_by_another_machine(
    machines: Callable[..., Service], store: Store, llm: LLMServer
) -> None:
    # One call in flight per task: the review's four calls answer one after another.
    first = machines("a", PLANEXE_MAX_CONCURRENT_LLM="1")
    plan_id, before = completed_plan(first)
    llm.configure(latency="fixed:0.3")
    try:
        rerun = first.http.post(
            f"/plans/{plan_id}/rerun", json={"tasks": [ASKED], "feedback": FEEDBACK}
        ).json()
        invalidated = rerun["tasks"]
        # kill -9 in the middle of the rerun: half of the plan review's batch answered.
        wait_until(lambda: stored_calls(store, plan_id).get(BATCH, 0) >= 2, 180, "the rerun under way")
        first.kill9()
        wait_until(lambda: not pipeline_processes(first.workdir), 30, "the pipeline to die")
    finally:
        llm.configure(latency="fixed:0")
    wait_until(lambda: llm.stats()["in_flight"] == 0, 30, "the killed requests to end")
    kept = stored_calls(store, plan_id)
    llm.reset_stats()

    second = machines("b", PLANEXE_MAX_CONCURRENT_LLM="1")
    plan = second.wait_status(plan_id, timeout=240)
    assert plan["status"] == "completed", plan
    run_dir = second.workdir / "runs" / plan_id
    last = last_run(run_dir)
    to_run = set(TASKS) - set(next(e for e in last if e["kind"] == "run_started")["done_tasks"])
    assert BATCH in to_run and to_run <= set(invalidated) and ASKED not in to_run
    reused = sum(count for task, count in kept.items() if task in to_run)
    expected = sum(TASKS[t].planned_calls("fast") for t in to_run) - reused
    assert llm.stats()["completions_ok"] == expected
    assert all(FEEDBACK in " ".join(m["content"] for m in r["messages"]) for r in llm.requests())

    after = stored_files(second, plan_id)
    assert all(after[n] == before[n] for n in before if task_of(n) not in invalidated)
    for name in (n for n in before if task_of(n) in invalidated and n.endswith(".json")):
        assert json.loads(after[name])["rerun"] == {"generation": 1, "feedback": FEEDBACK}, name
