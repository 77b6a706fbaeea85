"""Crashes in the windows that matter, opened on purpose with fault points, on both databases.

Each test arms a fault point (``PLANEXE_FAULT_POINTS``, planexe/faults.py) where a
process stops itself with SIGSTOP, or freezes the service from outside, then
kills, deletes or continues as an operator's bad day would, and checks the
invariants: a completed plan has every output of its DAG stored, byte for byte
as in its run directory; every line the pipeline wrote is stored once (so LLM
usage counts every call); no plan fails with ``internal_error``; a plan whose
work is done can always finish.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from sqlalchemy import delete, select

from planexe.pipeline.events import read_events
from planexe.pipeline.rundir import EVENTS_FILE, REPORT_FILE
from planexe.testing.llm_server import LLMServer, llm_server
from planexe.testing.service import Service
from planexe_api.db import repo_files, repo_plans
from planexe_api.db.models import PlanEvent, PlanFile, utcnow
from planexe_api.db.repo_leases import recover_expired
from planexe_api.services.store import Store

pytestmark = pytest.mark.slow

MakeService = Callable[..., Service]


@pytest.fixture(scope="module")
def llm() -> Iterator[LLMServer]:
    with llm_server(seed=3) as server:
        yield server


def llm_env(server: LLMServer) -> dict[str, str]:
    return {"PLANEXE_LLM_BASE_URL": server.base_url, "PLANEXE_LLM_MODEL": "test-model"}


def wait_until(condition: Callable[[], Any], timeout: float = 60, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def status(pid: int) -> str | None:
    try:
        return str(psutil.Process(pid).status())
    except psutil.NoSuchProcess:
        return None


def pipeline_of(plan_id: str) -> int | None:
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if "planexe.plan" in cmd and plan_id in cmd and proc.info["status"] != psutil.STATUS_ZOMBIE:
            return int(proc.info["pid"])
    return None


def run_dir_of(svc: Service, plan_id: str) -> Path:
    return svc.workdir / "runs" / plan_id


def assert_every_output_stored(store: Store, plan_id: str, run_dir: Path) -> None:
    events, _ = read_events(run_dir / EVENTS_FILE)
    outputs = [e for e in events if e["kind"] == "run_started"][-1]["outputs"]
    assert REPORT_FILE in outputs

    def read(session: Any) -> dict[str, bytes]:
        return {name: content for name, content in repo_files.all_file_contents(session, plan_id)}

    stored = store.run_sync(read)
    missing = sorted(set(outputs) - set(stored))
    assert not missing, f"outputs not stored: {missing}"
    different = [name for name in outputs if stored[name] != (run_dir / name).read_bytes()]
    assert not different, f"stored outputs differ from the run directory: {different}"


def assert_every_line_stored_once(store: Store, plan_id: str, run_dir: Path) -> None:
    """Each line of events.jsonl is stored exactly once, and usage counts every call made."""
    events, _ = read_events(run_dir / EVENTS_FILE)

    def read(session: Any) -> tuple[list[str], int]:
        eids = session.scalars(
            select(PlanEvent.eid).where(PlanEvent.plan_id == plan_id, PlanEvent.eid.is_not(None))
        ).all()
        plan = repo_plans.get_plan(session, plan_id)
        return list(eids), plan.llm_calls

    eids, llm_calls = store.run_sync(read)
    assert len(eids) == len(set(eids))
    assert {e["eid"] for e in events} <= set(eids)
    # An answer served from a call checkpoint was paid for once, by the run that made the call.
    paid = [e for e in events if e["kind"] == "llm_call" and e["outcome"] == "ok" and not e.get("cached")]
    assert llm_calls == len(paid)


def test_an_output_written_just_before_a_crash_is_stored_by_the_next_run(
    make_service: MakeService, store: Store
) -> None:
    # The pipeline stops itself right after the executive summary is written, before its success
    # is recorded; kill -9 of the service then kills it there (PR_SET_PDEATHSIG).
    svc = make_service(PLANEXE_FAULT_POINTS="after_output:executive_summary@1")
    plan_id = svc.submit()["id"]
    child = wait_until(lambda: pipeline_of(plan_id), what="the pipeline")
    wait_until(lambda: status(child) == psutil.STATUS_STOPPED, what="the pipeline at the fault point")
    svc.kill9()
    wait_until(lambda: status(child) in (None, psutil.STATUS_ZOMBIE), what="the pipeline to die")
    run_dir = run_dir_of(svc, plan_id)
    assert (run_dir / "executive_summary.json").exists()  # on disk, never shipped

    svc2 = make_service(name="svc2")
    plan = svc2.wait_status(plan_id)
    assert plan["status"] == "completed", plan
    assert_every_output_stored(store, plan_id, run_dir)
    assert_every_line_stored_once(store, plan_id, run_dir)
    assert svc2.http.get(f"/plans/{plan_id}/files/executive_summary.json").status_code == 200


def test_a_frozen_runners_last_events_are_shipped_by_the_next_run(
    make_service: MakeService, store: Store
) -> None:
    svc = make_service()
    plan_id = svc.submit()["id"]
    svc.wait_progress(plan_id, done=3)
    assert svc.process is not None
    os.kill(svc.process.pid, signal.SIGSTOP)  # nothing is shipped from here on
    run_dir = run_dir_of(svc, plan_id)
    # The pipeline runs on alone: it finishes the plan (offline) or stops itself when the
    # frozen supervisor's keep-alive has been silent for a lease.
    child = pipeline_of(plan_id)
    wait_until(lambda: child is None or status(child) in (None, psutil.STATUS_ZOMBIE), what="the pipeline")
    svc.kill9()

    svc2 = make_service(name="svc2")
    plan = svc2.wait_status(plan_id)
    assert plan["status"] == "completed", plan
    assert_every_output_stored(store, plan_id, run_dir)
    assert_every_line_stored_once(store, plan_id, run_dir)
    assert plan["llm_usage"]["calls"] == sum(
        1
        for e in read_events(run_dir / EVENTS_FILE)[0]
        if e["kind"] == "llm_call" and e["outcome"] == "ok" and not e.get("cached")
    )


@pytest.mark.parametrize("lose_report_html", [False, True])
def test_a_crash_after_the_report_on_a_new_machine_still_completes(
    make_service: MakeService, store: Store, lose_report_html: bool
) -> None:
    # The runner stops itself once the pipeline has exited 0, before it ships the last events and
    # decides the outcome; kill -9 there, then a new machine (no run directory) takes over.
    svc = make_service(PLANEXE_FAULT_POINTS="before_conclude@1")
    plan_id = svc.submit()["id"]
    assert svc.process is not None
    wait_until(lambda: status(svc.process.pid) == psutil.STATUS_STOPPED, what="the runner at the fault point")
    svc.kill9()
    run_dir = run_dir_of(svc, plan_id)
    if lose_report_html:
        # The window of the previous release: report.json stored, report.html never.
        def drop(session: Any) -> None:
            session.execute(delete(PlanFile).where(PlanFile.plan_id == plan_id, PlanFile.name == REPORT_FILE))

        store.run_sync(drop, write=True)
    shutil.rmtree(run_dir)

    svc2 = make_service(name="svc2")
    plan = svc2.wait_status(plan_id)
    assert plan["status"] == "completed", plan
    assert_every_output_stored(store, plan_id, run_dir)
    assert svc2.http.get(f"/plans/{plan_id}/report").status_code == 200


def test_a_runner_frozen_past_its_lease_claims_its_plan_again_and_completes(
    make_service: MakeService, store: Store, llm: LLMServer
) -> None:
    llm.configure(latency="fixed:0.2")
    try:
        svc = make_service(PLANEXE_FAULT_POINTS="before_renew@1", **llm_env(llm))
        plan_id = svc.submit()["id"]
        assert svc.process is not None
        wait_until(lambda: status(svc.process.pid) == psutil.STATUS_STOPPED, what="the runner frozen")

        def requeue_expired(session: Any) -> list[str]:
            return [a.plan_id for a in recover_expired(session, now=utcnow(), max_age_s=3600, max_attempts=3)]

        # Another replica's sweep, once the frozen runner's lease has run out.
        wait_until(lambda: store.run_sync(requeue_expired, write=True), what="the lease to expire")
        os.kill(svc.process.pid, signal.SIGCONT)
        plan = svc.wait_status(plan_id, timeout=180)
    finally:
        llm.configure(latency="fixed:0")
    assert plan["status"] == "completed", plan
    assert plan["attempt"] == 2
    assert_every_output_stored(store, plan_id, run_dir_of(svc, plan_id))
    assert wait_until(
        lambda: svc.http.get("/healthz").json()["running_children"] == 0 or None, what="no child"
    )


def test_a_pipeline_killed_on_every_attempt_fails_as_max_attempts(
    make_service: MakeService, llm: LLMServer
) -> None:
    llm.configure(latency="fixed:0.3")
    try:
        svc = make_service(**llm_env(llm))
        plan_id = svc.submit()["id"]
        for _ in range(3):
            child = wait_until(lambda: pipeline_of(plan_id), what="a pipeline")
            os.killpg(child, signal.SIGKILL)
            wait_until(lambda c=child: status(c) in (None, psutil.STATUS_ZOMBIE), what="the kill")
        plan = svc.wait_status(plan_id)
    finally:
        llm.configure(latency="fixed:0")
    assert (plan["status"], plan["error"]["code"]) == ("failed", "max_attempts"), plan
    assert "killed by SIGKILL" in plan["error"]["message"]
    assert "attempt 3 of 3" in plan["error"]["message"]
