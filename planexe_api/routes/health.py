"""/healthz (the process is alive), /readyz (it can serve: database up, schema current), /metrics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.orm import Session

from planexe_api.db import repo_plans
from planexe_api.db.errors import StoreError
from planexe_api.db.migrate import current_revision
from planexe_api.openapi import errors
from planexe_api.state import AppState, get_state

router = APIRouter(tags=["health"])
State = Annotated[AppState, Depends(get_state)]


@router.get("/healthz")
@router.head("/healthz", include_in_schema=False)  # load balancers probe with HEAD too
async def healthz(state: State) -> dict[str, object]:
    """Liveness: answers while the process runs; reports its children and runner."""
    runner = state.runner
    return {
        "status": "ok",
        "running_children": len(state.registry),
        "runner": runner.worker_id if runner else None,
        "plans_running_here": runner.plans_running() if runner else [],
    }


@router.get("/readyz", responses=errors(503))
@router.head("/readyz", include_in_schema=False)
async def readyz(state: State) -> JSONResponse:
    """Readiness: the database answers and its schema is the one this release needs."""
    try:
        revision = await state.store.run(lambda s: current_revision(s.get_bind()))
    except StoreError as exc:
        return JSONResponse(
            {"status": "unavailable", "code": "database_unavailable", "message": str(exc)}, 503
        )
    if revision != state.schema_revision:
        message = (
            f"schema is at {revision}, this release needs {state.schema_revision}: run `planexe db upgrade`"
        )
        return JSONResponse({"status": "unavailable", "code": "schema_outdated", "message": message}, 503)
    return JSONResponse({"status": "ready", "schema": revision})


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(state: State) -> Response:
    """Prometheus text format."""

    def read(session: Session) -> tuple[dict[str, int], int]:
        counts = repo_plans.count_by_status(session)
        return {str(k): v for k, v in counts.items()}, repo_plans.queue_depth(session)

    m = state.metrics
    try:
        counts, depth = await state.store.run(read)
        for status, count in counts.items():
            m.plans_by_status.labels(status).set(count)
        m.queue_depth.set(depth)
    except StoreError:
        pass  # still serve this process's own metrics
    m.running_children.set(len(state.registry))
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)
