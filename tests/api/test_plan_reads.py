"""GET /plans/{id} in-process on SQLite and PostgreSQL: the one-query read says what the two-query one did."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx
from fastapi import FastAPI

from planexe_api.db.engine import transaction
from planexe_api.db.models import utcnow
from planexe_api.db.repo_leases import claim_next, finish_plan, update_progress
from planexe_api.db.repo_plans import get_plan
from planexe_api.db.repo_usage import UsageDelta, add_usage, usage_for_plan
from planexe_api.schemas import PlanOut
from planexe_api.state import AppState


def _serve(app: FastAPI, scenario: Callable[[httpx.AsyncClient, AppState], Awaitable[None]]) -> None:
    async def main() -> None:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
                await scenario(client, app.state.planexe)

    anyio.run(main)


def _two_query_body(state: AppState, plan_id: str) -> dict[str, Any]:
    """The body as the route built it before: the plan, then its usage in a second query."""

    def load(session: Any) -> PlanOut:
        plan = get_plan(session, plan_id)
        assert plan is not None
        return PlanOut.of(plan, usage_for_plan(session, plan_id))

    return json.loads(state.store.run_sync(load).model_dump_json())


def test_get_matches_the_two_query_read_with_and_without_usage(app: FastAPI) -> None:
    async def scenario(client: httpx.AsyncClient, state: AppState) -> None:
        bare = (await client.post("/plans", json={"prompt": "Open a bakery"})).json()["id"]
        used = (await client.post("/plans", json={"prompt": "Open a café", "detail": "fast"})).json()["id"]

        def run_and_fail(session: Any) -> None:
            plan = claim_next(session, worker_id="w", lease_s=30, now=utcnow())
            assert plan is not None and plan.id == bare
            plan = claim_next(session, worker_id="w", lease_s=30, now=utcnow())
            assert plan is not None and plan.id == used
            token = plan.fencing_token
            usage = {
                "zeta": UsageDelta(calls=3, failed_attempts=1, prompt_tokens=300, completion_tokens=30, latency_s=1.23456),
                "alpha": UsageDelta(calls=1, prompt_tokens=7, completion_tokens=2, latency_s=0.1),
            }  # fmt: skip
            assert add_usage(session, plan_id=used, token=token, usage=usage)
            assert update_progress(
                session, plan_id=used, token=token, done=2, total=3, running_tasks=["Swot", "Plan"]
            )
            assert finish_plan(
                session,
                plan_id=used,
                token=token,
                status="failed",
                error_code="pipeline_error",
                error_message="task Swot failed",
                failed_task="Swot",
                now=utcnow(),
            )

        state.store.run_sync(run_and_fail, write=True)
        for plan_id in (bare, used):
            response = await client.get(f"/plans/{plan_id}")
            assert response.status_code == 200
            assert response.headers["content-type"] == "application/json"
            got = response.json()
            # The ETA of a running plan comes from its event log, not from the two-query read.
            eta = got.pop("eta")
            assert (eta is not None) == (got["status"] == "running")
            assert got == {k: v for k, v in _two_query_body(state, plan_id).items() if k != "eta"}
        body = (await client.get(f"/plans/{used}")).json()
        assert [u["model"] for u in body["llm_usage"]["by_model"]] == ["alpha", "zeta"]
        assert body["llm_usage"]["by_model"][1]["latency_s_total"] == 1.235
        assert body["error"] == {
            "code": "pipeline_error",
            "message": "task Swot failed",
            "failed_task": "Swot",
        }
        assert (await client.get(f"/plans/{bare}")).json()["llm_usage"]["by_model"] == []

        missing = await client.get("/plans/0123456789abcdef0123456789abcdef")
        assert missing.status_code == 404 and missing.json()["code"] == "plan_not_found"

    _serve(app, scenario)


def test_a_read_on_the_loop_never_waits_for_its_connection(app: FastAPI) -> None:
    async def scenario(client: httpx.AsyncClient, state: AppState) -> None:
        plan_id = (await client.post("/plans", json={"prompt": "Open a bakery"})).json()["id"]
        factory = state.store.loop_factory or state.store.factory
        # Hold the loop's connection as a stuck caller would: the next read must open another,
        # not queue behind it on the very thread that would have to release it.
        with transaction(factory) as held:
            held.connection()
            response = await client.get(f"/plans/{plan_id}")
        assert response.status_code == 200

    _serve(app, scenario)
