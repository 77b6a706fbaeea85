"""POST /plans/{id}/retry and the folding of identical creates, in-process on SQLite and PostgreSQL."""

from __future__ import annotations

import anyio
import httpx
from fastapi import FastAPI

from planexe_api.db.repo_plans import get_plan
from planexe_api.schemas import PlanCreate
from planexe_api.services import plan_actions
from planexe_api.state import AppState


def test_retry_makes_a_new_plan_from_a_cancelled_one(app: FastAPI) -> None:
    async def main() -> None:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
                old = (await client.post("/plans", json={"prompt": "Open a bakery", "detail": "fast"})).json()
                early = await client.post(f"/plans/{old['id']}/retry")
                assert early.status_code == 409 and early.json()["code"] == "not_retryable"
                await client.post(f"/plans/{old['id']}/cancel")

                retry = await client.post(f"/plans/{old['id']}/retry", headers={"Idempotency-Key": "r1"})
                assert retry.status_code == 202, retry.text
                new = retry.json()
                assert new["id"] != old["id"] and retry.headers["Location"] == f"/plans/{new['id']}"
                assert (new["status"], new["prompt"], new["detail"]) == ("queued", "Open a bakery", "fast")
                again = await client.post(f"/plans/{old['id']}/retry", headers={"Idempotency-Key": "r1"})
                assert again.json()["id"] == new["id"]
                assert (await client.get(f"/plans/{old['id']}")).json()["status"] == "cancelled"
                state: AppState = app.state.planexe
                stored = state.store.run_sync(lambda s: get_plan(s, new["id"]))
                assert stored is not None and stored.parameters == {"retry_of": old["id"]}

                model = await client.post(f"/plans/{old['id']}/retry", json={"llm_model": "gpt-9"})
                assert model.status_code == 400 and model.json()["code"] == "unknown_model"
                extra = await client.post(f"/plans/{old['id']}/retry", json={"model": "x"})
                assert extra.status_code == 422 and extra.json()["code"] == "invalid_request"
                missing = await client.post("/plans/nope/retry")
                assert missing.status_code == 404 and missing.json()["code"] == "plan_not_found"

    anyio.run(main)


def test_identical_creates_fold_within_the_window_unless_the_first_was_cancelled(app: FastAPI) -> None:
    async def main() -> None:
        async with app.router.lifespan_context(app):
            state: AppState = app.state.planexe
            body = PlanCreate(prompt="Build a ferry terminal", detail="fast")
            first = await plan_actions.create_plan(state, body, dedupe_window_s=600)
            twin = await plan_actions.create_plan(state, body, dedupe_window_s=600)
            other = await plan_actions.create_plan(
                state, body.model_copy(update={"detail": "full"}), dedupe_window_s=600
            )
            unfolded = await plan_actions.create_plan(state, body)  # what POST /plans does
            assert first.created and (twin.plan.id, twin.reused) == (first.plan.id, "identical_request")
            assert other.created and unfolded.created
            for plan in (first, unfolded):
                await plan_actions.cancel_plan(state, plan.plan.id)
            after = await plan_actions.create_plan(state, body, dedupe_window_s=600)
            assert after.created and after.plan.id not in (first.plan.id, unfolded.plan.id)

    anyio.run(main)
