"""The event stream: woken by commits in its own process, polling for the rest, riding out outages."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import make_url, text

from planexe.pipeline.events import EventWriter
from planexe.pipeline.rundir import EVENTS_FILE
from planexe_api.db.errors import StoreUnavailable
from planexe_api.db.models import utcnow
from planexe_api.db.repo_events import append_events
from planexe_api.db.repo_leases import claim_next, finish_plan
from planexe_api.db.repo_plans import request_cancel
from planexe_api.routes import sse
from planexe_api.services.plan_signals import PlanSignals
from planexe_api.services.plan_sync import PlanSync, Stored


def _parse(body: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in body.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            out.append((fields["event"], json.loads(fields["data"])))
    return out


def test_a_stream_is_woken_by_a_sync_in_its_process(
    app: FastAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No poll within the test's lifetime: only the signals can move the stream on.
    monkeypatch.setattr(sse, "SSE_POLL_S", 3600.0)
    run_dir = tmp_path / "run"
    run_dir.mkdir()

    async def main() -> None:
        async with app.router.lifespan_context(app):
            state = app.state.planexe
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
                plan_id = (await client.post("/plans", json={"prompt": "Open a bakery"})).json()["id"]
                claimed = await state.store.run(
                    lambda s: claim_next(s, worker_id="w", lease_s=30, now=utcnow()), write=True
                )
                assert claimed is not None
                token = claimed.fencing_token
                body: list[str] = []

                async def stream() -> None:
                    body.append((await client.get(f"/plans/{plan_id}/events")).text)

                with anyio.fail_after(30):
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(stream)
                        await anyio.sleep(0.05)  # usually the stream is waiting by now; either order works
                        sync = PlanSync(
                            state.store, plan_id, token, run_dir, Stored({}, set()), signals=state.signals
                        )
                        EventWriter(run_dir / EVENTS_FILE, attempt=token).emit("task_started", task="A")
                        assert await sync.pump()

                        def finish(session: Any) -> bool:
                            event = {"kind": "plan_finished", "status": "completed"}
                            assert append_events(session, plan_id=plan_id, token=token, events=[event])
                            return finish_plan(
                                session, plan_id=plan_id, token=token, status="completed", now=utcnow()
                            )

                        assert await state.store.run(finish, write=True)
                        state.signals.notify(plan_id)
        kinds = [kind for kind, _ in _parse(body[0])]
        assert kinds == ["plan_queued", "task_started", "plan_finished", "end"]

    anyio.run(main)


@contextlib.contextmanager
def database_refusing_connections(postgres_admin: Any, url: str) -> Iterator[None]:
    """An outage of one PostgreSQL database (the server, shared with other tests, stays up)."""
    name = make_url(url).database
    with postgres_admin.connect() as admin:
        admin.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name}
        )
    try:
        yield
    finally:
        with postgres_admin.connect() as admin:
            admin.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


@pytest.mark.postgres
def test_a_stream_waits_out_a_database_outage_and_ends_cleanly(
    app: FastAPI, db_url: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("an outage of one database needs PostgreSQL")
    postgres_admin = request.getfixturevalue("postgres_admin")
    monkeypatch.setattr(sse, "SSE_POLL_S", 0.05)
    monkeypatch.setattr(sse, "SSE_OUTAGE_RETRY_S", 0.05)

    async def main() -> None:
        async with app.router.lifespan_context(app):
            state = app.state.planexe
            store_run = state.store.run
            reads: list[str] = []
            streaming, refused = anyio.Event(), anyio.Event()

            async def observed_run(fn: Any, **kwargs: Any) -> Any:
                try:
                    result = await store_run(fn, **kwargs)
                except StoreUnavailable:
                    refused.set()
                    raise
                reads.append("ok")
                if len(reads) == 2:  # the route's check, then the stream's first page
                    streaming.set()
                return result

            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
                plan_id = (await client.post("/plans", json={"prompt": "Open a bakery"})).json()["id"]
                body: list[str] = []

                async def stream() -> None:
                    body.append((await client.get(f"/plans/{plan_id}/events")).text)

                with anyio.fail_after(60):
                    async with anyio.create_task_group() as tg:
                        monkeypatch.setattr(state.store, "run", observed_run)
                        tg.start_soon(stream)
                        await streaming.wait()
                        with database_refusing_connections(postgres_admin, db_url):
                            await refused.wait()  # the stream has met the outage
                        await store_run(lambda s: request_cancel(s, plan_id), write=True)
        kinds = [kind for kind, _ in _parse(body[0])]
        assert kinds == ["plan_queued", "plan_cancelled", "end"]

    anyio.run(main)


def test_signals_set_after_listen_are_not_missed() -> None:
    async def main() -> None:
        signals = PlanSignals()
        signals.notify("p")  # nobody listens: nothing kept
        first = signals.listen("p")
        assert signals.listen("p") is first  # streams of one plan share the wait
        signals.notify("p")  # lands between a stream's read and its wait
        with anyio.fail_after(5):
            await first.wait()
        second = signals.listen("p")
        assert second is not first and not second.is_set()
        signals.notify("other")
        assert not second.is_set()

    anyio.run(main)


def test_a_stopping_server_ends_its_streams_and_asks_clients_to_reconnect(app: FastAPI) -> None:
    # A running plan's stream never ends by itself; once the server is draining it must.
    from planexe_api.draining import draining_flag

    async def main() -> None:
        async with app.router.lifespan_context(app):
            state = app.state.planexe
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
                plan_id = (await client.post("/plans", json={"prompt": "Open a bakery"})).json()["id"]
                claimed = await state.store.run(
                    lambda s: claim_next(s, worker_id="w", lease_s=30, now=utcnow()), write=True
                )
                assert claimed is not None
                draining_flag(app).set()
                try:
                    with anyio.fail_after(30):
                        body = (await client.get(f"/plans/{plan_id}/events")).text
                finally:
                    draining_flag(app).clear()
        assert "end" not in [kind for kind, _ in _parse(body)]
        assert body.rstrip().endswith(": the server is stopping; reconnect with Last-Event-ID")

    anyio.run(main)
