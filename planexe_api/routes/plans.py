"""/plans: submit, follow, download, cancel and resume plans."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from planexe.errors import LLMConfigError
from planexe.pipeline.rundir import REPORT_FILE
from planexe_api.db import repo_events, repo_files, repo_plans
from planexe_api.db.errors import DuplicateIdempotencyKey, InvalidCursor, InvalidTransition, PlanNotFound
from planexe_api.db.models import Plan, PlanStatus
from planexe_api.errors import ApiError, Conflict, NotFound, TooManyPlans
from planexe_api.schemas import FileOut, PlanCreate, PlanListOut, PlanOut
from planexe_api.services.supervisor import StopReason
from planexe_api.state import AppState, get_state

router = APIRouter(prefix="/plans", tags=["plans"])
State = Annotated[AppState, Depends(get_state)]

SSE_POLL_S = 0.3  # seconds; how often an event stream looks for new events unless woken sooner
SSE_KEEPALIVE_S = 15.0  # a comment line this often keeps proxies from closing an idle stream
_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}


def _not_found(plan_id: str) -> NotFound:
    return NotFound(f"no plan with id {plan_id!r}", code="plan_not_found")


def _load(session: Session, plan_id: str) -> PlanOut:
    found = repo_plans.get_plan_with_usage(session, plan_id)
    if found is None:
        raise _not_found(plan_id)
    return PlanOut.of(*found)


@router.post("", status_code=202, response_model=PlanOut)
async def create_plan(
    body: PlanCreate,
    state: State,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> PlanOut:
    """Queue a plan and return at once; follow it at ``links.self`` or ``links.events``.

    Send an ``Idempotency-Key`` header to make retries safe: the same key returns
    the plan the first request created instead of queueing a second one.
    """
    if body.llm_model is not None:
        try:
            state.llm_config.chain_for(body.llm_model)
        except LLMConfigError as exc:
            raise ApiError(exc.problem, code="unknown_model") from exc
    settings = state.settings

    def create(session: Session) -> tuple[PlanOut, bool]:
        if idempotency_key:
            existing = repo_plans.find_by_idempotency_key(session, idempotency_key)
            if existing is not None:
                return _replay(existing, body), False
        if repo_plans.queue_depth(session) >= settings.max_queued_plans:
            raise TooManyPlans(
                f"{settings.max_queued_plans} plans are already queued (PLANEXE_MAX_QUEUED_PLANS); retry later",
                headers={"Retry-After": "30"},
            )
        try:
            plan = repo_plans.create_plan(
                session,
                prompt=body.prompt,
                detail=body.detail,
                llm_model=body.llm_model,
                idempotency_key=idempotency_key,
            )
        except DuplicateIdempotencyKey:
            existing = repo_plans.find_by_idempotency_key(session, idempotency_key or "")
            assert existing is not None
            return _replay(existing, body), False
        repo_events.append_service_events(session, plan_id=plan.id, events=[{"kind": "plan_queued"}])
        return PlanOut.of(plan), True

    out, created = await state.store.run(create, write=True)
    if created:
        state.metrics.plans_submitted.inc()
        if state.runner is not None:
            state.runner.wake()
    response.headers["Location"] = out.links["self"]
    return out


def _replay(existing: Plan, body: PlanCreate) -> PlanOut:
    if (existing.prompt, existing.detail, existing.llm_model) != (body.prompt, body.detail, body.llm_model):
        raise Conflict(
            "this Idempotency-Key was already used for a different request; use a new key for a new plan",
            code="idempotency_key_reused",
        )
    return PlanOut.of(existing)


@router.get("", response_model=PlanListOut)
async def list_plans(
    state: State,
    status: Literal["queued", "running", "completed", "failed", "cancelled"] | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: str | None = None,
) -> PlanListOut:
    """Plans, newest first; filter by ``status``; page with ``next_cursor``."""

    def page(session: Session) -> PlanListOut:
        try:
            result = repo_plans.list_plans(session, status=status, limit=limit, cursor=cursor)
        except InvalidCursor as exc:
            raise ApiError(
                "cursor is not one this server handed out; start again without it", code="invalid_cursor"
            ) from exc
        return PlanListOut(items=[PlanOut.of(p) for p in result.plans], next_cursor=result.next_cursor)

    return await state.store.run(page)


@router.get("/{plan_id}", response_model=PlanOut)
async def get_plan(plan_id: str, state: State) -> PlanOut:
    """Status, progress, tasks running now, attempt, LLM usage and, on failure, the reason."""
    return await state.store.read_small(lambda s: _load(s, plan_id))


@router.post("/{plan_id}/cancel", response_model=PlanOut)
async def cancel_plan(plan_id: str, state: State) -> PlanOut:
    """Cancel a plan. A queued plan is cancelled at once; a running plan's child is stopped
    (its whole process group) by the runner that owns it, within one heartbeat."""

    def cancel(session: Session) -> PlanOut:
        plan = repo_plans.request_cancel(session, plan_id)
        if plan is None:
            raise _not_found(plan_id)
        return PlanOut.of(plan)

    out = await state.store.run(cancel, write=True)
    state.signals.notify(plan_id)
    runner = state.runner
    if runner is not None and plan_id in runner.runs:
        # This replica runs it: act now rather than at the next heartbeat.
        runner.runs[plan_id].stop.set(StopReason.CANCELLED)
    return out


@router.post("/{plan_id}/resume", response_model=PlanOut, status_code=202)
async def resume_plan(plan_id: str, state: State) -> PlanOut:
    """Queue a failed or cancelled plan again; its finished tasks are reused, not re-run."""

    def resume(session: Session) -> PlanOut:
        try:
            return PlanOut.of(repo_plans.resume_plan(session, plan_id))
        except PlanNotFound as exc:
            raise _not_found(plan_id) from exc
        except InvalidTransition as exc:
            raise Conflict(str(exc), code="not_resumable") from exc

    out = await state.store.run(resume, write=True)
    state.signals.notify(plan_id)
    if state.runner is not None:
        state.runner.wake()
    return out


@router.get("/{plan_id}/files", response_model=list[FileOut])
async def list_files(plan_id: str, state: State) -> list[FileOut]:
    """The plan's output files so far (one per finished task, and the report)."""

    def files(session: Session) -> list[FileOut]:
        if repo_plans.get_plan(session, plan_id) is None:
            raise _not_found(plan_id)
        return [FileOut.of(f) for f in repo_files.list_files(session, plan_id)]

    return await state.store.run(files)


async def _file_response(state: AppState, plan_id: str, name: str) -> Response:
    try:
        repo_files.check_file_name(name)
    except ValueError as exc:
        raise ApiError(
            f"{name!r} is not a file of this plan: use a name from /plans/{plan_id}/files",
            code="invalid_file_name",
        ) from exc

    def read(session: Session) -> tuple[bytes, str] | None:
        if repo_plans.get_plan(session, plan_id) is None:
            raise _not_found(plan_id)
        f = repo_files.get_file(session, plan_id, name)
        return (f.content, f.sha256) if f is not None else None

    found = await state.store.run(read)
    if found is None:
        raise NotFound(f"plan {plan_id} has no file {name!r} (yet)", code="file_not_found")
    content, digest = found
    suffix = name[name.rfind(".") :] if "." in name else ""
    return Response(
        content,
        media_type=_MEDIA_TYPES.get(suffix, "application/octet-stream"),
        headers={"ETag": f'"{digest}"', "Cache-Control": "no-cache"},
    )


@router.get("/{plan_id}/files/{name:path}")
async def get_file(plan_id: str, name: str, state: State) -> Response:
    """One output file, as stored when its task finished."""
    return await _file_response(state, plan_id, name)


@router.get("/{plan_id}/report", response_class=Response)
async def get_report(plan_id: str, state: State) -> Response:
    """The self-contained HTML report; 409 while the plan is not completed."""
    plan = await state.store.read_small(lambda s: repo_plans.get_plan(s, plan_id))
    if plan is None:
        raise _not_found(plan_id)
    if plan.status != PlanStatus.COMPLETED:
        raise Conflict(
            f"the report is not ready: the plan is {plan.status} "
            f"({plan.progress_done}/{plan.progress_total} tasks done); poll /plans/{plan_id} until completed",
            code="report_not_ready",
        )
    return await _file_response(state, plan_id, REPORT_FILE)


def _sse(seq: int, kind: str, data: dict[str, Any]) -> bytes:
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    return f"id: {seq}\nevent: {kind}\ndata: {payload}\n\n".encode()


@router.get("/{plan_id}/events")
async def stream_events(
    plan_id: str,
    state: State,
    request: Request,
    last_event_id: Annotated[str | None, Header()] = None,
    after: Annotated[int | None, Query(ge=0, description="resume after this event id")] = None,
) -> StreamingResponse:
    """Server-Sent Events: task started/finished/failed, LLM calls, status changes.

    Each event's ``id`` is its sequence number; reconnect with ``Last-Event-ID``
    (or ``?after=``) to continue where the stream stopped. The stream ends after
    the plan reaches completed, failed or cancelled.
    """
    start = after if after is not None else _parse_last_event_id(last_event_id)
    if await state.store.read_small(lambda s: repo_plans.get_plan(s, plan_id)) is None:
        raise _not_found(plan_id)

    async def generate() -> AsyncIterator[bytes]:
        seq = start
        quiet_since = anyio.current_time()
        yield b"retry: 2000\n\n"
        while True:
            # Before the read, so a commit that lands after it still ends the wait below.
            wake = state.signals.listen(plan_id)

            def poll(session: Session, since: int = seq) -> tuple[list[tuple[int, str, dict[str, Any]]], str]:
                plan = repo_plans.get_plan(session, plan_id)
                events = repo_events.events_after(session, plan_id, since, limit=500)
                return [
                    (e.seq, e.kind, e.as_dict()) for e in events
                ], plan.status if plan else PlanStatus.FAILED

            events, status = await state.store.run(poll)
            for event_seq, kind, data in events:
                state.metrics.sse_events.inc()
                yield _sse(event_seq, kind, data)
                seq = event_seq
            if events:
                quiet_since = anyio.current_time()
                continue
            if PlanStatus(status).is_terminal:
                yield _sse(seq, "end", {"status": status})
                return
            if await request.is_disconnected():
                return
            # Woken at once when this process commits the plan's events; the timeout is the
            # poll for plans that another replica runs.
            with anyio.move_on_after(SSE_POLL_S):
                await wake.wait()
            if anyio.current_time() - quiet_since >= SSE_KEEPALIVE_S:
                quiet_since = anyio.current_time()
                yield b": keep-alive\n\n"

    return StreamingResponse(
        generate(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _parse_last_event_id(value: str | None) -> int:
    if value is None or not value.strip():
        return 0
    try:
        return max(0, int(value.strip()))
    except ValueError as exc:
        raise ApiError(
            "Last-Event-ID must be the numeric id of an event from this stream", code="invalid_last_event_id"
        ) from exc
