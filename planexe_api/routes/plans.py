"""/plans: submit, follow, download, cancel and resume plans.

The handlers are thin: what each action does lives in ``services/plan_actions``,
which the MCP tools call too.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import HTMLResponse, StreamingResponse

from planexe_api.db import repo_plans
from planexe_api.db.models import PlanStatus
from planexe_api.db.storable import StorableText
from planexe_api.openapi import errors
from planexe_api.principal import requested_by
from planexe_api.routes.sse import EventStream, has_everything, parse_event_id
from planexe_api.schemas import (
    NOT_BLANK_PATTERN,
    FileOut,
    PlanCreate,
    PlanListOut,
    PlanOut,
    PlanReplay,
    PlanResume,
    PlanRetry,
    ReplayOut,
    RerunCreate,
    RerunOut,
)
from planexe_api.services import plan_actions, plan_delete, plan_replay, plan_rerun
from planexe_api.services.plan_actions import (
    CURSOR_MAX_CHARS,
    IDEMPOTENCY_KEY_MAX_CHARS,
    LIST_LIMIT_DEFAULT,
    LIST_LIMIT_MAX,
    MEDIA_TYPES,
    SEARCH_MAX_CHARS,
    StatusFilter,
    StoredFile,
    plan_not_found,
)
from planexe_api.state import AppState, get_state

router = APIRouter(prefix="/plans", tags=["plans"])
State = Annotated[AppState, Depends(get_state)]


# The rules the handlers check, declared in the schema too (checked by parse_event_id and
# check_idempotency_key, which answer 400 with their own codes rather than 422).
EVENT_ID_PATTERN = r"^\s*[0-9]{0,9}\s*$"
IDEMPOTENCY_KEY = Header(
    max_length=IDEMPOTENCY_KEY_MAX_CHARS,
    description="Any unique string you choose (a UUID is fine): the same key again returns the same plan.",
    json_schema_extra={"pattern": NOT_BLANK_PATTERN},
)


class EventStreamResponse(StreamingResponse):
    media_type = "text/event-stream"


SSE_EVENT = {  # one event of the stream, as a client's parser sees it
    "type": "object",
    "required": ["id", "event", "data"],
    "properties": {
        "id": {"type": "string", "pattern": "^[0-9]+$", "description": "Unique and increasing."},
        "event": {"type": "string", "description": "The kind (docs/api.md, Events); `end` is the last."},
        "data": {"type": "string", "contentMediaType": "application/json"},
    },
}
EVENTS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The events, then `end` (docs/api.md, The stream's contract).",
        "content": {"text/event-stream": {"schema": SSE_EVENT}},
    },
    204: {"description": "The plan has ended and the client has every event, `end` included."},
    **errors(400),
}
FILE_CONTENT = {
    "description": "The file as stored; its type follows its name.",
    # JSON outputs are JSON (any shape: each task has its own); the others are text or bytes.
    "content": {
        media: {"schema": {} if media == "application/json" else {"type": "string"}} for media in MEDIA_TYPES
    },
}


@router.post("", status_code=202, response_model=PlanOut, responses=errors(400, 409, 429))
async def create_plan(
    body: PlanCreate,
    state: State,
    response: Response,
    idempotency_key: Annotated[str | None, IDEMPOTENCY_KEY] = None,
) -> PlanOut:
    """Queue a plan and return at once; follow it at ``links.self`` or ``links.events``.

    Send an ``Idempotency-Key`` header to make retries safe: the same key returns
    the plan the first request created instead of queueing a second one.
    """
    out = (await plan_actions.create_plan(state, body, idempotency_key)).plan
    response.headers["Location"] = out.links["self"]
    return out


@router.post("/resume", response_model=ReplayOut)
async def resume_plans(body: PlanReplay, state: State) -> ReplayOut:
    """Resume, in bulk, the failed (or cancelled) plans a filter matches: ``error_code``, ``since``
    (ended at or after), ``limit`` (at most 100, the oldest first). Each is resumed as
    ``POST /plans/{id}/resume`` would; the answer lists the ids ``resumed`` and those ``skipped``,
    with the code and message a single resume gave. Skipped plans match again next time."""
    return await plan_replay.resume_matching(state, body)


@router.get("", response_model=PlanListOut, responses=errors(400))
async def list_plans(
    state: State,
    status: StatusFilter | None = None,
    limit: Annotated[int, Query(ge=1, le=LIST_LIMIT_MAX)] = LIST_LIMIT_DEFAULT,
    cursor: Annotated[
        str | None, Query(max_length=CURSOR_MAX_CHARS, description="next_cursor of the previous page")
    ] = None,
    q: Annotated[
        StorableText | None,
        Query(max_length=SEARCH_MAX_CHARS, description="only prompts containing this (any case)"),
    ] = None,
) -> PlanListOut:
    """Plans, newest first; filter by ``status``, search prompts with ``q``; page with ``next_cursor``.

    ``counts`` gives the plans per status that match ``q``, whatever the status filter.
    """
    return await plan_actions.list_plans(state, status=status, limit=limit, cursor=cursor, search=q)


@router.get("/{plan_id}", response_model=PlanOut)
async def get_plan(plan_id: str, state: State) -> PlanOut:
    """Status, progress, tasks running now, attempt, LLM usage, the ETA of a plan that has not
    ended (how it is computed is in ``eta.basis``) and, on failure, the reason."""
    return await plan_actions.get_plan(state, plan_id)


@router.delete("/{plan_id}", status_code=204, response_class=Response, responses=errors(409))
async def delete_plan(plan_id: str, state: State) -> Response:
    """Delete a plan: its rows (events, files, usage), stored files and run directories, on every
    machine (another host's runner removes its copy within a heartbeat). 409 ``plan_running`` while
    it runs: cancel it first. A second DELETE answers 404 ``plan_not_found``: it is gone either way."""
    await plan_delete.delete_plan(state, plan_id)
    return Response(status_code=204)


@router.post("/{plan_id}/cancel", response_model=PlanOut)
async def cancel_plan(plan_id: str, state: State) -> PlanOut:
    """Cancel a plan. A queued plan is cancelled at once; a running plan's child is stopped
    (its whole process group) by the runner that owns it, within one heartbeat."""
    return await plan_actions.cancel_plan(state, plan_id)


@router.post("/{plan_id}/resume", response_model=PlanOut, status_code=202, responses=errors(400, 409))
async def resume_plan(plan_id: str, state: State, body: PlanResume | None = None) -> PlanOut:
    """Queue a failed or cancelled plan again; its finished tasks are reused, not re-run.

    An optional body ``{"max_cost": ..., "max_tokens": ...}`` raises the plan's budget; a plan
    that stopped at its budget (``budget_exceeded``) needs a higher one (409 ``budget_too_low``).
    A refused plan (the safety gate declined it) is final: 409 ``not_resumable`` says why.
    """
    budget = body or PlanResume()
    return await plan_actions.resume_plan(state, plan_id, budget.max_cost, budget.max_tokens)


@router.post("/{plan_id}/rerun", response_model=RerunOut, status_code=202, responses=errors(409))
async def rerun_plan(plan_id: str, body: RerunCreate, state: State, request: Request) -> RerunOut:
    """Regenerate part of a finished (completed, failed or cancelled) plan: the tasks named and
    everything downstream of them run again, with ``feedback`` in their prompts; every other
    output is reused. The outputs they replace stay readable as earlier versions
    (``/plans/{id}/files?versions=true``). The answer lists exactly the tasks that will run.

    404 ``plan_not_found``; 422 ``unknown_task`` with ``valid_tasks``; 409 ``not_rerunnable``
    while the plan is queued or running, and for a refused plan.
    """
    return await plan_rerun.rerun_plan(
        state, plan_id, body.tasks, body.feedback, requested_by(request, via="api")
    )


@router.post("/{plan_id}/retry", response_model=PlanOut, status_code=202, responses=errors(400, 409, 429))
async def retry_plan(
    plan_id: str,
    state: State,
    response: Response,
    body: PlanRetry | None = None,
    idempotency_key: Annotated[str | None, IDEMPOTENCY_KEY] = None,
) -> PlanOut:
    """Start a new plan with a failed or cancelled plan's prompt and detail, reusing nothing
    (resume reuses its finished tasks); optionally with another model first. The old plan is
    left as it is. ``Idempotency-Key`` works as for ``POST /plans``. A refused plan is not
    retried (409 ``not_retryable``): the same request would be refused again."""
    result = await plan_actions.retry_plan(
        state, plan_id, llm_model=body.llm_model if body else None, idempotency_key=idempotency_key
    )
    response.headers["Location"] = result.plan.links["self"]
    return result.plan


@router.get("/{plan_id}/files", response_model=list[FileOut])
async def list_files(
    plan_id: str,
    state: State,
    versions: Annotated[
        bool, Query(description="also the earlier versions reruns replaced (current: false)")
    ] = False,
) -> list[FileOut]:
    """The plan's output files so far (one per finished task, and the report), each with its
    ``version``; with ``?versions=true`` also every earlier version a rerun replaced, by name and
    version, each with the ``url`` that downloads it."""
    return await plan_actions.list_files(state, plan_id, versions=versions)


def _file_response(stored: StoredFile) -> Response:
    return Response(
        stored.content,
        media_type=stored.media_type,
        headers={"ETag": f'"{stored.sha256}"', "Cache-Control": "no-cache"},
    )


@router.get("/{plan_id}/files/{name:path}", responses={200: FILE_CONTENT, **errors(400)})
async def get_file(
    plan_id: str,
    name: str,
    state: State,
    version: Annotated[
        int | None, Query(ge=1, le=1_000_000, description="an earlier version, as ?versions=true lists them")
    ] = None,
) -> Response:
    """One output file, as stored when its task finished; ``?version=N`` gives an earlier version
    a rerun replaced (``GET /plans/{id}/files?versions=true`` lists them)."""
    return _file_response(await plan_actions.read_file(state, plan_id, name, version))


@router.get("/{plan_id}/report", response_class=HTMLResponse, responses=errors(409))
async def get_report(plan_id: str, state: State) -> Response:
    """The self-contained HTML report; 409 while the plan is not completed. A refused plan's report
    is one page: the refusal and its reason."""
    return _file_response(await plan_actions.read_report(state, plan_id))


@router.get("/{plan_id}/events", response_class=EventStreamResponse, responses=EVENTS_RESPONSES)
async def stream_events(
    plan_id: str,
    state: State,
    request: Request,
    last_event_id: Annotated[
        str | None,
        Header(
            description="the id of the last event the client has (what EventSource sends by itself)",
            json_schema_extra={"pattern": EVENT_ID_PATTERN},
        ),
    ] = None,
    after: Annotated[
        str | None,
        Query(
            description="resume after this event id (digits, at most 999999999)",
            json_schema_extra={"pattern": EVENT_ID_PATTERN},
        ),
    ] = None,
) -> Response:
    """Server-Sent Events: task started/finished/failed, LLM calls, status changes.

    Each event's ``id`` is its sequence number (unique, increasing); reconnect with
    ``Last-Event-ID`` (or ``?after=``) to continue where the stream stopped. Once the
    plan is completed, failed, cancelled or refused and every event is sent, a last ``end``
    event (id: one past the last event's) closes the stream; a reconnect after ``end``
    is answered 204 No Content, which tells a browser's EventSource to stop.
    """
    # Both are checked before the stream starts: past it, a bad value could only break the body.
    # Both are checked whichever is used, so a bad one is never silently ignored.
    from_header = parse_event_id(last_event_id)
    start = parse_event_id(after, "after") if after is not None else from_header
    plan_actions.check_plan_id(plan_id)
    plan = await state.store.read_small(lambda s: repo_plans.get_plan(s, plan_id))
    if plan is None:
        raise plan_not_found(plan_id)
    if has_everything(PlanStatus(plan.status), plan.last_event_seq, start):
        return Response(status_code=204)  # a browser's EventSource stops reconnecting on this
    return EventStreamResponse(
        EventStream(state, request, plan_id, start).body(),
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
