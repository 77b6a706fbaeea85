"""The JSON twins of the dashboard: the DAG with task states, one task, the ETA, list search and counts.

Events are appended as the runner would (fenced by the claim's token), so the
folded states come from the same log a real run writes.
"""

from __future__ import annotations

import time
from typing import Any

import anyio
import httpx
from fastapi import FastAPI

from planexe.plan.dag import ALL_TASKS
from planexe_api.db.models import utcnow
from planexe_api.db.repo_events import append_events
from planexe_api.db.repo_leases import claim_next, finish_plan


async def _claimed(app: FastAPI, client: httpx.AsyncClient, prompt: str = "Open a bakery") -> tuple[str, int]:
    plan_id = (await client.post("/plans", json={"prompt": prompt, "detail": "fast"})).json()["id"]
    state = app.state.planexe
    claimed = await state.store.run(
        lambda s: claim_next(s, worker_id="w", lease_s=60, now=utcnow()), write=True
    )
    assert claimed is not None and claimed.id == plan_id
    return plan_id, claimed.fencing_token


async def _append(app: FastAPI, plan_id: str, token: int, events: list[dict[str, Any]]) -> None:
    def write(session: Any) -> None:
        assert append_events(session, plan_id=plan_id, token=token, events=events) is not None

    await app.state.planexe.store.run(write, write=True)


def _call(task: str, seconds: float, ts: float) -> dict[str, Any]:
    return {
        "kind": "llm_call",
        "task": task,
        "step": task,
        "model": "m",
        "outcome": "ok",
        "llm_attempt": 1,
        "duration_s": seconds,
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "ts": ts,
        "attempt": 1,
    }


def test_dag_task_and_eta_follow_the_event_log(app: FastAPI) -> None:
    async def main() -> None:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
                plan_id, token = await _claimed(app, client)
                now = time.time()
                await _append(
                    app,
                    plan_id,
                    token,
                    [
                        {
                            "kind": "run_started",
                            "total": len(ALL_TASKS),
                            "done_tasks": [],
                            "ts": now - 9,
                            "attempt": 1,
                        },
                        {"kind": "task_started", "task": "setup", "ts": now - 9, "attempt": 1},
                        {"kind": "task_succeeded", "task": "setup", "ts": now - 8, "attempt": 1},
                        {"kind": "task_started", "task": "identify_purpose", "ts": now - 8, "attempt": 1},
                        _call("identify_purpose", 2.0, now - 7),
                    ],
                )
                plan = (await client.get(f"/plans/{plan_id}")).json()
                eta = plan["eta"]
                assert eta["remaining_s"] is None and eta["calls_observed"] == 1
                assert "needs 3 answered LLM calls" in eta["basis"]
                dag = (await client.get(f"/plans/{plan_id}/dag")).json()
                states = {t["name"]: t["state"] for t in dag["tasks"]}
                assert states["setup"] == "done" and states["identify_purpose"] == "running"
                assert dag["states"]["done"] == 1 and dag["states"]["running"] == 1
                assert dag["last_event_id"] == plan["last_event_id"]
                assert (
                    dag["critical_path"][0] == "setup" and eta["remaining_rounds"] == dag["critical_rounds"]
                )
                order = [t["name"] for t in dag["tasks"]]
                for task in dag["tasks"]:
                    assert all(order.index(d) < order.index(task["name"]) for d in task["depends_on"])

                await _append(
                    app,
                    plan_id,
                    token,
                    [
                        _call("identify_purpose", 2.0, now - 6),
                        _call("identify_purpose", 2.0, now - 5),
                        {"kind": "task_succeeded", "task": "identify_purpose", "ts": now - 5, "attempt": 1},
                    ],
                )
                later = (await client.get(f"/plans/{plan_id}")).json()["eta"]
                assert later["calls_observed"] == 3 and later["seconds_per_call"] == 2.0
                assert later["remaining_rounds"] <= eta["remaining_rounds"]
                assert later["remaining_s"] == later["remaining_rounds"] * 2.0
                assert later["low_s"] <= later["remaining_s"] <= later["high_s"]
                assert later["finishes_at"] is not None

                task = (await client.get(f"/plans/{plan_id}/tasks/identify_purpose")).json()
                assert task["state"] == "done" and task["output"].endswith("/files/identify_purpose.json")
                assert [c["duration_s"] for c in task["llm_calls"]] == [2.0, 2.0, 2.0]
                assert task["runs"][0]["outcome"] == "done" and task["dependents"]
                missing = await client.get(f"/plans/{plan_id}/tasks/no_such_task")
                assert missing.status_code == 404 and missing.json()["code"] == "task_not_found"

                await _append(
                    app,
                    plan_id,
                    token,
                    [
                        {"kind": "task_started", "task": "currency", "ts": now - 4, "attempt": 1},
                        {
                            "kind": "task_failed",
                            "task": "currency",
                            "error": "LLMError: HTTP 500",
                            "ts": now - 3,
                        },
                    ],
                )

                def fail(session: Any) -> bool:
                    return finish_plan(
                        session,
                        plan_id=plan_id,
                        token=token,
                        status="failed",
                        error_code="task_failed",
                        error_message="task failed: currency",
                        failed_task="currency",
                        now=utcnow(),
                    )

                assert await app.state.planexe.store.run(fail, write=True)
                failed = (await client.get(f"/plans/{plan_id}")).json()
                assert failed["eta"] is None
                dag = (await client.get(f"/plans/{plan_id}/dag")).json()
                by_name = {t["name"]: t for t in dag["tasks"]}
                assert by_name["currency"]["state"] == "failed"
                assert by_name["currency"]["error"] == "LLMError: HTTP 500"
                assert by_name["report"]["state"] == "skipped"
                assert dag["states"]["skipped"] == len(ALL_TASKS) - 3

    anyio.run(main)


def test_list_searches_prompts_and_counts_by_status(app: FastAPI) -> None:
    async def main() -> None:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
                for prompt in ("Open a BAKERY in Oslo", "A bakery at 100% capacity", "Plant a forest"):
                    assert (await client.post("/plans", json={"prompt": prompt})).status_code == 202
                first = (await client.get("/plans")).json()["items"][0]["id"]
                await client.post(f"/plans/{first}/cancel")
                found = (await client.get("/plans", params={"q": "bakery"})).json()
                assert [p["prompt"] for p in found["items"]] == [
                    "A bakery at 100% capacity",
                    "Open a BAKERY in Oslo",
                ]
                assert found["counts"] == {
                    "queued": 2,
                    "running": 0,
                    "completed": 0,
                    "failed": 0,
                    "cancelled": 0,
                    "refused": 0,
                }
                everything = (await client.get("/plans", params={"status": "cancelled"})).json()
                assert [p["prompt"] for p in everything["items"]] == ["Plant a forest"]
                assert everything["counts"]["queued"] == 2 and everything["counts"]["cancelled"] == 1
                # % and _ are literal characters, not wildcards.
                literal = (await client.get("/plans", params={"q": "100%"})).json()
                assert len(literal["items"]) == 1
                assert (await client.get("/plans", params={"q": "a_b"})).json()["items"] == []
                too_long = await client.get("/plans", params={"q": "x" * 201})
                assert too_long.status_code == 422 and too_long.json()["code"] == "invalid_request"

    anyio.run(main)
