"""POST /plans/{id}/rerun in-process (runner off), on SQLite and PostgreSQL: what it answers and stores.

A finished plan is made in the store (status, outputs and call checkpoints as a run
would leave them); the rerun must move exactly the invalidated tasks' outputs to
earlier versions, forget their checkpoints, give them the rerun's generation and
feedback, queue the plan and record who asked. The run that follows is tested with
real processes in test_rerun_e2e.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session

from planexe.pipeline.calls import checkpoint_name
from planexe_api.db import repo_calls, repo_events, repo_files, repo_plans, repo_versions
from planexe_api.db.models import PlanStatus
from planexe_api.db.repo_calls import CallUpload
from planexe_api.db.repo_files import FileUpload
from planexe_api.services.plan_dag import plan_dag
from planexe_api.state import AppState

DAG = plan_dag("fast", 16)
# cost_estimates is mid-DAG: its descendants are the budget, the digest, the review and the report.
ASKED = "cost_estimates"
DOWNSTREAM = DAG.downstream([ASKED])
KEPT = [t.name for t in DAG.tasks if t.name not in DOWNSTREAM]


@asynccontextmanager
async def client_of(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            yield client


def finished_plan(state: AppState, status: PlanStatus = PlanStatus.COMPLETED) -> str:
    """A plan as a run leaves it: every task's output stored, and one checkpoint per LLM task."""

    def make(session: Session) -> str:
        plan = repo_plans.create_plan(session, prompt="Open a bakery", detail="fast")
        plan.status = status
        plan.progress_done = plan.progress_total = len(DAG.tasks)
        session.flush()
        files = [FileUpload.of(t.output, t.name, f"{t.name} v1".encode()) for t in DAG.tasks]
        files.append(FileUpload.of("report.html", "report", b"<html>v1</html>"))
        repo_files.store_files(session, plan_id=plan.id, files=files)
        calls = [
            CallUpload(checkpoint_name(t.name, "a" * 64), t.name, b"{}") for t in DAG.tasks if t.llm_calls
        ]
        repo_calls.store_calls(session, plan_id=plan.id, calls=calls)
        return plan.id

    return state.store.run_sync(make, write=True)


def read(state: AppState, fn: Callable[[Session], Any]) -> Any:
    return state.store.run_sync(fn)


def test_a_rerun_invalidates_the_task_and_its_descendants_and_queues_the_plan(app: FastAPI) -> None:
    async def main() -> None:
        async with client_of(app) as client:
            state: AppState = app.state.planexe
            plan_id = finished_plan(state)
            feedback = "Make the budget fit 300k EUR."
            answer = await client.post(
                f"/plans/{plan_id}/rerun", json={"tasks": [ASKED], "feedback": feedback}
            )
            assert answer.status_code == 202, answer.text
            body = answer.json()
            assert (
                body["tasks"] == list(DOWNSTREAM) and body["tasks"][0] == ASKED and "report" in body["tasks"]
            )
            assert {"budget", "plan_digest", "review_plan", "executive_summary"} <= set(body["tasks"])
            assert "wbs_level3" not in body["tasks"] and "identify_purpose" not in body["tasks"]
            assert (body["rerun"], body["requested"], body["feedback"]) == (1, [ASKED], feedback)
            assert body["kept"] == len(KEPT)
            assert body["llm_calls_planned"] == sum(DAG.by_name[t].llm_calls for t in DOWNSTREAM)
            assert body["plan"]["status"] == "queued" and body["plan"]["links"]["rerun"].endswith("/rerun")

            files = read(state, lambda s: {f.name: f.task for f in repo_files.list_files(s, plan_id)})
            assert set(files.values()) == set(KEPT)
            versions = read(state, lambda s: repo_versions.list_versions(s, plan_id))
            assert {(v.task, v.version, v.rerun) for v in versions} == {(t, 1, 1) for t in DOWNSTREAM}
            assert sorted(v.name for v in versions) == body["superseded_files"]
            calls = read(state, lambda s: {n.split("/")[1] for n in repo_calls.call_names(s, plan_id)})
            assert calls == {t for t in KEPT if DAG.by_name[t].llm_calls}

            plan = read(state, lambda s: repo_plans.get_plan(s, plan_id))
            reruns = plan.parameters["reruns"]
            assert reruns["generation"] == 1
            assert reruns["tasks"] == {t: {"generation": 1, "feedback": feedback} for t in DOWNSTREAM}
            assert plan.progress_done == len(KEPT)
            [event] = [
                e
                for e in read(state, lambda s: repo_events.events_after(s, plan_id))
                if e.kind == "plan_rerun"
            ]
            assert event.data["tasks"] == list(DOWNSTREAM) and event.data["feedback"] == feedback
            assert event.data["requested_by"] == {"via": "api", "auth": "none", "client": "127.0.0.1"}

            # The DAG shows them queued again, the others done.
            dag = (await client.get(f"/plans/{plan_id}/dag")).json()
            states = {t["name"]: t["state"] for t in dag["tasks"]}
            assert {states[t] for t in DOWNSTREAM} == {"queued"}

            # Queued: not again until it has run.
            again = await client.post(f"/plans/{plan_id}/rerun", json={"tasks": [ASKED]})
            assert again.status_code == 409 and again.json()["code"] == "not_rerunnable"

    anyio.run(main)


def test_a_second_rerun_numbers_its_versions_after_the_first(app: FastAPI) -> None:
    async def main() -> None:
        async with client_of(app) as client:
            state: AppState = app.state.planexe
            plan_id = finished_plan(state, PlanStatus.FAILED)
            assert (
                await client.post(f"/plans/{plan_id}/rerun", json={"tasks": ["report"]})
            ).status_code == 202

            def finish_again(session: Session) -> None:
                plan = repo_plans.get_plan(session, plan_id)
                plan.status = PlanStatus.CANCELLED
                files = [
                    FileUpload.of("report.json", "report", b"v2"),
                    FileUpload.of("report.html", "report", b"v2"),
                ]
                repo_files.store_files(session, plan_id=plan_id, files=files)

            state.store.run_sync(finish_again, write=True)
            second = await client.post(
                f"/plans/{plan_id}/rerun", json={"tasks": ["pitch", "report"], "feedback": "  "}
            )
            assert second.status_code == 202, second.text
            assert second.json()["tasks"] == ["pitch", "report"] and second.json()["feedback"] is None
            versions = read(state, lambda s: repo_versions.list_versions(s, plan_id))
            assert [(v.name, v.version, v.rerun) for v in versions if v.task == "report"] == [
                ("report.html", 1, 1),
                ("report.html", 2, 2),
                ("report.json", 1, 1),
                ("report.json", 2, 2),
            ]
            plan = read(state, lambda s: repo_plans.get_plan(s, plan_id))
            tasks = plan.parameters["reruns"]["tasks"]
            assert tasks["report"] == {"generation": 2, "feedback": None}
            assert set(tasks) == {"report", "pitch"} and tasks["pitch"]["generation"] == 2

    anyio.run(main)


def test_unknown_plans_tasks_and_bodies_are_refused_with_what_to_send(app: FastAPI) -> None:
    async def main() -> None:
        async with client_of(app) as client:
            state: AppState = app.state.planexe
            missing = await client.post(f"/plans/{'0' * 32}/rerun", json={"tasks": [ASKED]})
            assert missing.status_code == 404 and missing.json()["code"] == "plan_not_found"
            plan_id = finished_plan(state)
            unknown = await client.post(f"/plans/{plan_id}/rerun", json={"tasks": ["budget", "the_budget"]})
            assert unknown.status_code == 422, unknown.text
            error = unknown.json()
            assert error["code"] == "unknown_task" and error["unknown_tasks"] == ["the_budget"]
            assert error["valid_tasks"] == [t.name for t in DAG.tasks] and "'the_budget'" in error["message"]
            for bad in ({"tasks": []}, {}, {"tasks": ["budget"], "extra": 1}, {"tasks": ["x" * 101]}):
                refused = await client.post(f"/plans/{plan_id}/rerun", json=bad)
                assert refused.status_code == 422 and refused.json()["code"] == "invalid_request", bad
            # Nothing of it changed the plan.
            plan = read(state, lambda s: repo_plans.get_plan(s, plan_id))
            assert plan.status == "completed" and "reruns" not in plan.parameters

            def running(session: Session) -> None:
                repo_plans.get_plan(session, plan_id).status = PlanStatus.RUNNING

            state.store.run_sync(running, write=True)
            busy = await client.post(f"/plans/{plan_id}/rerun", json={"tasks": [ASKED]})
            assert busy.status_code == 409 and busy.json()["code"] == "not_rerunnable"
            assert "running" in busy.json()["message"]
            still = read(state, lambda s: len(list(s.scalars(select(repo_versions.PlanFileVersion)))))
            assert still == 0

    anyio.run(main)


def test_earlier_versions_are_listed_and_downloadable(app: FastAPI) -> None:
    async def main() -> None:
        async with client_of(app) as client:
            state: AppState = app.state.planexe
            plan_id = finished_plan(state)
            assert (
                await client.post(f"/plans/{plan_id}/rerun", json={"tasks": ["pitch"]})
            ).status_code == 202
            # The rerun's run stores the new report (the pitch's output not yet).
            new = [FileUpload.of("report.html", "report", b"<html>v2</html>")]
            state.store.run_sync(lambda s: repo_files.store_files(s, plan_id=plan_id, files=new), write=True)

            current = (await client.get(f"/plans/{plan_id}/files")).json()
            by_name = {f["name"]: f for f in current}
            assert "pitch.json" not in by_name and by_name["report.html"]["version"] == 2
            assert by_name["swot.json"]["version"] == 1 and all(f["current"] for f in current)

            every = (await client.get(f"/plans/{plan_id}/files", params={"versions": "true"})).json()
            earlier = [(f["name"], f["version"]) for f in every if not f["current"]]
            assert earlier == [("pitch.json", 1), ("report.html", 1), ("report.json", 1)]
            old = next(f for f in every if f["name"] == "report.html" and not f["current"])
            assert old["url"] == f"/plans/{plan_id}/files/report.html?version=1" and old["rerun"] == 1
            assert old["superseded_at"] is not None
            names = [(f["name"], f["version"]) for f in every]
            assert names == sorted(names)

            first = await client.get(old["url"])
            assert first.status_code == 200 and first.content == b"<html>v1</html>"
            assert first.headers["content-type"].startswith("text/html")
            assert (
                await client.get(f"/plans/{plan_id}/files/report.html?version=2")
            ).content == b"<html>v2</html>"
            assert (await client.get(f"/plans/{plan_id}/files/report.html")).content == b"<html>v2</html>"
            for version, status in (("3", 404), ("0", 422), ("x", 422), ("99999999999", 422)):
                answer = await client.get(f"/plans/{plan_id}/files/report.html?version={version}")
                assert answer.status_code == status, (version, answer.text)
            gone = await client.get(f"/plans/{plan_id}/files/pitch.json")
            assert gone.status_code == 404 and "versions=true" in gone.json()["message"]

    anyio.run(main)
