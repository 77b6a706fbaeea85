"""Priority (POST /plans, shown in status, honoured by the runner) and bulk replay (POST /plans/resume),
on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import anyio
import httpx
from fastapi import FastAPI

from planexe_api.db.models import utcnow
from planexe_api.db.repo_leases import claim_next, finish_plan
from planexe_api.db.repo_plans import create_plan, get_plan
from planexe_api.state import AppState


def _serve(app: FastAPI, scenario: Callable[[httpx.AsyncClient, AppState], Awaitable[None]]) -> None:
    async def main() -> None:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
                await scenario(client, app.state.planexe)

    anyio.run(main)


def test_priority_is_bounded_stored_and_shown(app: FastAPI) -> None:
    async def scenario(client: httpx.AsyncClient, state: AppState) -> None:
        plain = (await client.post("/plans", json={"prompt": "Open a bakery"})).json()
        assert plain["priority"] == 0
        urgent = await client.post("/plans", json={"prompt": "Open a bakery", "priority": 10})
        assert urgent.status_code == 202 and urgent.json()["priority"] == 10
        assert (await client.get(f"/plans/{urgent.json()['id']}")).json()["priority"] == 10
        listed = (await client.get("/plans")).json()["items"]
        assert {p["id"]: p["priority"] for p in listed} == {plain["id"]: 0, urgent.json()["id"]: 10}
        for bad in (11, -11, "high", 1.5):
            answer = await client.post("/plans", json={"prompt": "Open a bakery", "priority": bad})
            assert (answer.status_code, answer.json()["code"]) == (422, "invalid_request"), bad
            assert answer.json()["message"].startswith("priority:")
        # The same Idempotency-Key with another priority is another request.
        key = {"Idempotency-Key": "k-1"}
        first = await client.post("/plans", json={"prompt": "Open a café", "priority": 3}, headers=key)
        again = await client.post("/plans", json={"prompt": "Open a café", "priority": 3}, headers=key)
        other = await client.post("/plans", json={"prompt": "Open a café", "priority": 4}, headers=key)
        assert first.json()["id"] == again.json()["id"]
        assert (other.status_code, other.json()["code"]) == (409, "idempotency_key_reused")

    _serve(app, scenario)


def test_the_runner_claims_the_highest_priority_first(make_service, tmp_path) -> None:
    # Queue them all before any runner runs, then one runner with one slot takes them in turn.
    api = make_service("api", PLANEXE_RUNNER="false")
    order = [("low", -3), ("first-normal", 0), ("high", 5), ("second-normal", 0), ("second-high", 5)]
    ids = {name: api.submit(name, priority=priority)["id"] for name, priority in order}
    runner = make_service("runner", PLANEXE_MAX_CONCURRENT_PLANS="1")
    plans = {name: runner.wait_status(plan_id) for name, plan_id in ids.items()}
    assert {p["status"] for p in plans.values()} == {"completed"}
    started = sorted(plans, key=lambda name: plans[name]["started_at"])
    # Higher priority first; equal priorities in the order they were queued.
    assert started == ["high", "second-high", "first-normal", "second-normal", "low"]
    for name, plan in plans.items():
        assert plan["priority"] == dict(order)[name]


def _seed(state: AppState) -> dict[str, str]:
    """Plans as a runner leaves them: failed with various codes at various times, one cancelled,
    one completed, one its budget stopped (so it cannot be resumed without a higher budget)."""
    now = utcnow()

    def ended(session: Any, name: str, status: str, code: str | None, days_ago: float, **extra: Any) -> str:
        plan = create_plan(session, prompt=name, detail="fast", **extra)
        claimed = claim_next(session, worker_id="w", lease_s=30, now=now)
        assert claimed is not None and claimed.id == plan.id
        if code == "budget_exceeded":
            claimed.prompt_tokens = 500
        at = now - timedelta(days=days_ago)
        assert finish_plan(
            session, plan_id=plan.id, token=claimed.fencing_token, status=status, error_code=code, error_message=code, now=at
        )  # fmt: skip
        return plan.id

    def seed(session: Any) -> dict[str, str]:
        return {
            "timeout_old": ended(session, "timeout_old", "failed", "timeout", 5),
            "task_failed": ended(session, "task_failed", "failed", "task_failed", 4),
            "timeout_new": ended(session, "timeout_new", "failed", "timeout", 1),
            "budget": ended(session, "budget", "failed", "budget_exceeded", 3, parameters={"budget": {"max_tokens": 100}}),
            "cancelled": ended(session, "cancelled", "cancelled", None, 2),
            "completed": ended(session, "completed", "completed", None, 2),
        }  # fmt: skip

    return state.store.run_sync(seed, write=True)


def test_bulk_resume_resumes_what_the_filter_matches_and_says_why_it_skipped(app: FastAPI) -> None:
    async def scenario(client: httpx.AsyncClient, state: AppState) -> None:
        ids = _seed(state)
        name = {plan_id: n for n, plan_id in ids.items()}

        async def replay(body: dict[str, Any]) -> dict[str, Any]:
            answer = await client.post("/plans/resume", json=body)
            assert answer.status_code == 200, answer.text
            return answer.json()

        # By error code and time: only the newer timeout.
        since = (utcnow() - timedelta(days=2)).isoformat()
        out = await replay({"status": "failed", "error_code": "timeout", "since": since})
        assert (out["matched"], [name[i] for i in out["resumed"]], out["skipped"]) == (1, ["timeout_new"], [])
        # Every failed plan, oldest first, two at a time: a budget-stopped plan is skipped with the
        # reason a single resume gives, and matches again next time.
        out = await replay({"limit": 2})
        assert [name[i] for i in out["resumed"]] == ["timeout_old", "task_failed"] and out["skipped"] == []
        out = await replay({"limit": 2})
        assert out["resumed"] == [] and [(name[s["id"]], s["code"]) for s in out["skipped"]] == [
            ("budget", "budget_too_low")
        ]
        assert "higher max_cost or max_tokens" in out["skipped"][0]["message"]
        out = await replay({"status": "cancelled"})
        assert [name[i] for i in out["resumed"]] == ["cancelled"]

        def statuses(session: Any) -> dict[str, str]:
            return {n: get_plan(session, i).status for n, i in ids.items()}  # type: ignore[union-attr]

        assert state.store.run_sync(statuses) == {
            "timeout_old": "queued",
            "task_failed": "queued",
            "timeout_new": "queued",
            "budget": "failed",
            "cancelled": "queued",
            "completed": "completed",
        }
        events = (await client.get(f"/plans/{ids['timeout_old']}/dag")).json()
        assert events["last_event_id"] > 0
        # Bad filters: 422 naming the field; nothing resumed.
        for body, field in (
            ({"status": "running"}, "status"),
            ({"status": "completed"}, "status"),
            ({"error_code": "Timeout; DROP"}, "error_code"),
            ({"since": "yesterday"}, "since"),
            ({"since": datetime(2030, 1, 1).isoformat()}, "since"),  # no time zone
            ({"limit": 0}, "limit"),
            ({"limit": 101}, "limit"),
            ({"state": "failed"}, "state"),
        ):
            answer = await client.post("/plans/resume", json=body)
            assert (answer.status_code, answer.json()["code"]) == (422, "invalid_request"), body
            assert answer.json()["message"].startswith(f"{field}:"), answer.json()
        missing = await client.post("/plans/resume")
        assert missing.status_code == 422

    _serve(app, scenario)
