"""DELETE /plans/{id} and retention against real services: nothing of a deleted plan is left, in any
table or on any runner's disk, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine, select
from sqlalchemy.pool import NullPool

from planexe.testing.llm_server import LLMServer, llm_server
from planexe.testing.service import Service
from planexe_api.db import repo_events, repo_files, repo_plans, repo_workers
from planexe_api.db.models import PlanStatus, utcnow
from planexe_api.db.repo_files import FileUpload
from planexe_api.services.store import Store


@pytest.fixture(scope="module")
def llm() -> Iterator[LLMServer]:
    with llm_server(seed=3) as server:
        yield server


def traces(db_url: str, plan_id: str) -> list[str]:
    """Every row of every table (the schema as the database has it, not as the models say) that
    mentions ``plan_id`` anywhere, as ``table: row``."""
    engine = create_engine(db_url, poolclass=NullPool)
    try:
        meta = MetaData()
        meta.reflect(engine)
        found = []
        with engine.connect() as connection:
            for table in meta.sorted_tables:
                for row in connection.execute(select(table)):
                    if plan_id in repr(tuple(row)):
                        found.append(f"{table.name}: {tuple(row)!r:.200}")
        return found
    finally:
        engine.dispose()


def wait_until(check, timeout: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def completed_plan(svc: Service, prompt: str = "Open a small bakery in Copenhagen") -> str:
    plan_id = svc.submit(prompt)["id"]
    assert svc.wait_status(plan_id)["status"] == "completed"
    return plan_id


def test_delete_removes_rows_files_and_run_directory(make_service, db_url: str, tmp_path: Path) -> None:
    svc = make_service()
    doomed, kept = completed_plan(svc), completed_plan(svc, "Build a community solar farm")
    runs = tmp_path / "runs"
    assert (runs / doomed / "report.html").is_file() and traces(db_url, doomed)

    answer = svc.http.delete(f"/plans/{doomed}")
    assert (answer.status_code, answer.content) == (204, b"")
    # One machine: the run directory is gone when DELETE answers, and so is every row.
    assert not (runs / doomed).exists()
    assert traces(db_url, doomed) == []
    for path in ("", "/files", "/report", "/archive", "/events"):
        gone = svc.http.get(f"/plans/{doomed}{path}")
        assert (gone.status_code, gone.json()["code"]) == (404, "plan_not_found"), path
    again = svc.http.delete(f"/plans/{doomed}")
    assert (again.status_code, again.json()["code"]) == (404, "plan_not_found")
    # The other plan is untouched.
    assert svc.plan(kept)["status"] == "completed" and (runs / kept / "report.html").is_file()
    assert len(svc.http.get(f"/plans/{kept}/files").json()) > 50


def test_a_replica_without_the_run_directory_deletes_it_through_the_runner(
    make_service, db_url: str, tmp_path: Path
) -> None:
    # Two places: an API replica that runs nothing, with a runs directory of its own, and a
    # runner elsewhere (another runs directory stands for another machine).
    runner = make_service("runner")
    api = make_service("api", PLANEXE_RUNNER="false", PLANEXE_RUNS_DIR=str(tmp_path / "api-runs"))
    plan_id = completed_plan(api)
    run_dir = tmp_path / "runs" / plan_id
    assert run_dir.is_dir() and not (tmp_path / "api-runs" / plan_id).exists()

    assert api.http.delete(f"/plans/{plan_id}").status_code == 204
    assert api.http.get(f"/plans/{plan_id}").status_code == 404
    # The runner's housekeeping removes its copy, then its note: nothing is left anywhere.
    wait_until(lambda: not run_dir.exists(), what="the runner to remove the run directory")
    wait_until(lambda: traces(db_url, plan_id) == [], what="the deletion note to be settled")
    assert runner.http.get(f"/plans/{plan_id}").status_code == 404


def test_a_running_plan_is_refused_until_cancelled(make_service, db_url: str, llm: LLMServer) -> None:
    llm.configure(latency="fixed:0.2")
    try:
        svc = make_service(
            PLANEXE_LLM_BASE_URL=llm.base_url, PLANEXE_LLM_MODEL="test-model", PLANEXE_LLM_TIMEOUT_S="5"
        )
        plan_id = svc.submit()["id"]
        svc.wait_status(plan_id, ("running",))
        refused = svc.http.delete(f"/plans/{plan_id}")
        assert (refused.status_code, refused.json()["code"]) == (409, "plan_running")
        assert "cancel it first" in refused.json()["message"]
        svc.http.post(f"/plans/{plan_id}/cancel")
        assert svc.wait_status(plan_id, timeout=30)["status"] == "cancelled"
    finally:
        llm.configure(latency="fixed:0")
    assert svc.http.delete(f"/plans/{plan_id}").status_code == 204
    assert traces(db_url, plan_id) == []


def test_retention_purges_old_terminal_plans_only(make_service, db_url: str, tmp_path: Path) -> None:
    """Plans made in the database as a runner on this machine would have left them, finished
    10 and 3 days ago; with PLANEXE_RETENTION_DAYS=7 the runner's first round purges the old ones."""
    runs = tmp_path / "runs"
    store = Store.open(db_url)
    now = utcnow()

    def plan(session, status: PlanStatus, days_ago: float) -> str:
        created = repo_plans.create_plan(
            session, prompt=f"{status} {days_ago}", now=now - timedelta(days=days_ago)
        )
        created.status = status
        created.finished_at = now - timedelta(days=days_ago) if status.is_terminal else None
        session.flush()
        repo_events.append_service_events(
            session, plan_id=created.id, events=[{"kind": "plan_running", "worker_id": "old-runner"}]
        )
        repo_files.store_files(session, plan_id=created.id, files=[FileUpload.of("swot.json", "swot", b"{}")])
        (runs / created.id).mkdir(parents=True)
        (runs / created.id / "plan.json").write_text(json.dumps({"plan_id": created.id}))
        return created.id

    def seed(session) -> dict[str, str]:
        repo_workers.register_worker(
            session,
            worker_id="old-runner",
            host=socket.gethostname(),
            pid=1,
            role="worker",
            now=now,
            runs_dir=str(runs.resolve()),
        )
        return {
            "old_completed": plan(session, PlanStatus.COMPLETED, 10),
            "old_failed": plan(session, PlanStatus.FAILED, 10),
            "old_cancelled": plan(session, PlanStatus.CANCELLED, 8),
            "recent": plan(session, PlanStatus.COMPLETED, 3),
        }  # fmt: skip

    try:
        ids = store.run_sync(seed, write=True)
    finally:
        store.close()
    svc = make_service(PLANEXE_RETENTION_DAYS="7")
    for name in ("old_completed", "old_failed", "old_cancelled"):
        plan_id = ids[name]
        wait_until(lambda p=plan_id: svc.http.get(f"/plans/{p}").status_code == 404, what=f"{name} purged")
        wait_until(lambda p=plan_id: not (runs / p).exists(), what=f"{name}'s run directory removed")
        wait_until(lambda p=plan_id: traces(db_url, p) == [], what=f"{name} gone from every table")
    assert svc.plan(ids["recent"])["status"] == "completed"
    assert (runs / ids["recent"] / "plan.json").is_file()
    assert traces(db_url, ids["recent"])
