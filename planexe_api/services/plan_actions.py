"""What a person or an agent can do to plans: the one implementation behind every face.

The REST routes (``routes/plans.py``) and the MCP tools (``planexe_api/mcp``)
both call these functions, so a rule (the queue limit, idempotency, which
states can be resumed, which file names can be read) lives here once. Each
function runs its database work as one short transaction through the store
and raises the ``planexe_api.errors`` ApiError subclasses, which each face
turns into its own error shape (an HTTP status with ``{code, message}``, an
MCP tool error with the same code and message). Every action on one plan starts
with ``check_plan_id``, and every text input is checked by its input model with
``db.storable`` (see there), so hostile input is a 4xx before any transaction opens.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from sqlalchemy.orm import Session

from planexe.errors import LLMConfigError
from planexe.pipeline.rundir import REPORT_FILE
from planexe_api.db import repo_events, repo_files, repo_plans, repo_usage, repo_versions
from planexe_api.db.errors import DuplicateIdempotencyKey, InvalidCursor, InvalidTransition, PlanNotFound
from planexe_api.db.models import Plan, PlanStatus, is_plan_id, utcnow
from planexe_api.errors import ApiError, Conflict, NotFound, TooManyPlans
from planexe_api.schemas import FileOut, PlanCreate, PlanListOut, PlanOut
from planexe_api.services import budgets, plan_eta
from planexe_api.state import AppState

# Input limits, checked by each face's own input schema (FastAPI's, the MCP tools')
# so that both answer ``invalid_request`` naming the field.
IDEMPOTENCY_KEY_MAX_CHARS = 200
LIST_LIMIT_DEFAULT = 20  # plans per page
LIST_LIMIT_MAX = 100
SEARCH_MAX_CHARS = 200  # of a prompt search
CURSOR_MAX_CHARS = 200  # the cursors this service hands out are about 90
StatusFilter = Literal["queued", "running", "completed", "failed", "cancelled", "refused"]
QUEUE_FULL_RETRY_AFTER_S = 30  # told to a client whose plan was refused because the queue is full

_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}
_OTHER_MEDIA = "application/octet-stream"
MEDIA_TYPES = (*_MEDIA_TYPES.values(), _OTHER_MEDIA)  # every type a stored file is served as


@dataclass(frozen=True)
class CreatedPlan:
    plan: PlanOut
    # None: this request queued the plan. Else why an earlier plan was returned instead:
    # "idempotency_key" (the same key was sent before) or "identical_request" (see create_plan).
    reused: Literal["idempotency_key", "identical_request"] | None = None

    @property
    def created(self) -> bool:
        return self.reused is None


@dataclass(frozen=True)
class StoredFile:
    name: str
    content: bytes
    sha256: str
    media_type: str


def media_type_of(name: str) -> str:
    suffix = name[name.rfind(".") :] if "." in name else ""
    return _MEDIA_TYPES.get(suffix, _OTHER_MEDIA)


def plan_not_found(plan_id: str) -> NotFound:
    shown = plan_id if len(plan_id) <= 64 else plan_id[:64] + "..."
    return NotFound(f"no plan with id {shown!r}", code="plan_not_found")


def check_plan_id(plan_id: str) -> None:
    """NotFound for a string that cannot be a plan id, before any transaction is opened: every
    action on one plan starts with this, so hostile ids (NUL, 10 KB) never reach the database."""
    if not is_plan_id(plan_id):
        raise plan_not_found(plan_id)


def check_idempotency_key(key: str | None) -> None:
    """Refuse an empty or blank key: it is what an unset shell variable sends, and stored as a
    real key it would hand every later such request the first one's plan (or a 409)."""
    if key is not None and not key.strip():
        raise ApiError(
            "Idempotency-Key is empty: send a unique value (a UUID is fine), or leave the header out",
            code="invalid_idempotency_key",
        )


def _load(session: Session, plan_id: str) -> PlanOut:
    found = repo_plans.get_plan_with_usage(session, plan_id)
    if found is None:
        raise plan_not_found(plan_id)
    return PlanOut.of(*found)


def plan_out(session: Session, plan: Plan) -> PlanOut:
    """The plan as every answer shows it, its usage by model included (one representation:
    a plan reads the same in a list, alone, and in the answer to an action on it)."""
    return PlanOut.of(plan, repo_usage.usage_for_plan(session, plan.id))


async def create_plan(
    state: AppState,
    body: PlanCreate,
    idempotency_key: str | None = None,
    *,
    dedupe_window_s: float = 0.0,
    parameters: dict[str, Any] | None = None,
) -> CreatedPlan:
    """Queue a plan. The same ``idempotency_key`` again returns the first plan (or a
    Conflict if the request differs); a full queue raises TooManyPlans.

    Without a key and with ``dedupe_window_s`` > 0, a plan asked for with the same
    prompt, detail and model within that many seconds, and not failed or cancelled,
    is returned instead of a new one (best effort: two identical requests at the very
    same moment on PostgreSQL may both create a plan; a key is the guarantee).
    """
    check_idempotency_key(idempotency_key)
    try:
        chain = state.llm_config.chain_for(body.llm_model)
    except LLMConfigError as exc:
        raise ApiError(exc.problem, code="unknown_model") from exc
    settings = state.settings
    budget = budgets.requested(body.max_cost, body.max_tokens, settings)
    budgets.check_priced(budget, chain)

    def create(session: Session) -> CreatedPlan:
        if idempotency_key:
            existing = repo_plans.find_by_idempotency_key(session, idempotency_key)
            if existing is not None:
                return CreatedPlan(_replay(session, existing, body), "idempotency_key")
        elif dedupe_window_s > 0:
            twin = repo_plans.find_recent_identical(
                session,
                prompt=body.prompt,
                detail=body.detail,
                llm_model=body.llm_model,
                since=utcnow() - timedelta(seconds=dedupe_window_s),
            )
            if twin is not None:
                return CreatedPlan(plan_out(session, twin), "identical_request")
        if repo_plans.queue_depth(session) >= settings.max_queued_plans:
            raise TooManyPlans(
                f"{settings.max_queued_plans} plans are already queued (PLANEXE_MAX_QUEUED_PLANS); retry later",
                headers={"Retry-After": str(QUEUE_FULL_RETRY_AFTER_S)},
            )
        try:
            plan = repo_plans.create_plan(
                session,
                prompt=body.prompt,
                detail=body.detail,
                llm_model=body.llm_model,
                parameters={**(parameters or {}), **({budgets.BUDGET_KEY: budget} if budget else {})} or None,
                idempotency_key=idempotency_key or None,
                priority=body.priority,
            )
        except DuplicateIdempotencyKey:
            existing = repo_plans.find_by_idempotency_key(session, idempotency_key or "")
            assert existing is not None
            return CreatedPlan(_replay(session, existing, body), "idempotency_key")
        repo_events.append_service_events(session, plan_id=plan.id, events=[{"kind": "plan_queued"}])
        return CreatedPlan(PlanOut.of(plan, []))  # new: no usage yet

    result = await state.store.run(create, write=True)
    if result.created:
        state.metrics.plans_submitted.inc()
        if state.runner is not None:
            state.runner.wake()
    return result


def _replay(session: Session, existing: Plan, body: PlanCreate) -> PlanOut:
    asked = budgets.of(existing) or {}
    same_budget = all(
        given is None or asked.get(name) == given
        for name, given in (("max_cost", body.max_cost), ("max_tokens", body.max_tokens))
    )
    if (existing.prompt, existing.detail, existing.llm_model, existing.priority) != (
        body.prompt,
        body.detail,
        body.llm_model,
        body.priority,
    ) or not same_budget:
        raise Conflict(
            "this Idempotency-Key was already used for a different request; use a new key for a new plan",
            code="idempotency_key_reused",
        )
    return plan_out(session, existing)


async def list_plans(
    state: AppState,
    *,
    status: StatusFilter | None = None,
    limit: int = LIST_LIMIT_DEFAULT,
    cursor: str | None = None,
    search: str | None = None,
) -> PlanListOut:
    """Plans newest first, ``limit`` at a time; ``next_cursor`` continues with older ones.

    ``search`` keeps the plans whose prompt contains it (any case); ``counts`` are the
    plans per status that match the search, whatever ``status`` says.
    """
    search = search.strip() if search else None

    def page(session: Session) -> PlanListOut:
        try:
            result = repo_plans.list_plans(session, status=status, limit=limit, cursor=cursor, search=search)
        except InvalidCursor as exc:
            raise ApiError(
                "cursor is not one this server handed out; start again without it", code="invalid_cursor"
            ) from exc
        counts = repo_plans.count_by_status(session, search=search)
        usage = repo_usage.usage_for_plans(session, [p.id for p in result.plans])
        return PlanListOut(
            items=[PlanOut.of(p, usage[p.id]) for p in result.plans],
            next_cursor=result.next_cursor,
            counts={str(k): v for k, v in counts.items()},
        )

    return await state.store.run(page)


async def get_plan(state: AppState, plan_id: str, *, eta: bool = True) -> PlanOut:
    """The plan with its progress, LLM usage and, until it ends, its ETA; NotFound if there is none.

    ``eta=False`` skips the ETA (and the read of new events it takes): one row read, for a
    caller that only watches progress, such as MCP's plan_wait between its looks.
    """
    check_plan_id(plan_id)
    out = await state.store.read_small(lambda s: _load(s, plan_id))
    return await plan_eta.with_eta(state, out) if eta else out


async def cancel_plan(state: AppState, plan_id: str) -> PlanOut:
    """Cancel: a queued plan at once; a running one is stopped by the runner that owns it."""
    check_plan_id(plan_id)

    def cancel(session: Session) -> PlanOut:
        plan = repo_plans.request_cancel(session, plan_id)
        if plan is None:
            raise plan_not_found(plan_id)
        return plan_out(session, plan)

    out = await state.store.run(cancel, write=True)
    state.signals.notify(plan_id)
    if state.runner is not None:
        # If this replica runs it, act now rather than at the next heartbeat.
        state.runner.cancel_local(plan_id)
    return out


async def resume_plan(
    state: AppState, plan_id: str, max_cost: float | None = None, max_tokens: int | None = None
) -> PlanOut:
    """Queue a failed or cancelled plan again, reusing its finished tasks; ``max_cost`` or
    ``max_tokens`` raise its budget (a plan its budget stopped needs a higher one)."""
    check_plan_id(plan_id)

    def resume(session: Session) -> PlanOut:
        plan = repo_plans.get_plan(session, plan_id)
        if plan is None:
            raise plan_not_found(plan_id)
        if plan.status == PlanStatus.REFUSED:
            raise refused_is_final(plan_id, "resumed", "not_resumable")
        parameters = None
        if max_cost is not None or max_tokens is not None or plan.error_code == budgets.STOPPED_CODE:
            budget = budgets.raised(plan, max_cost, max_tokens)
            budgets.check_priced(budget, state.llm_config.chain_for(plan.llm_model))
            parameters = {**(plan.parameters or {}), budgets.BUDGET_KEY: budget}
        try:
            return plan_out(session, repo_plans.resume_plan(session, plan_id, parameters=parameters))
        except PlanNotFound as exc:
            raise plan_not_found(plan_id) from exc
        except InvalidTransition as exc:
            raise Conflict(str(exc), code="not_resumable") from exc

    out = await state.store.run(resume, write=True)
    state.signals.notify(plan_id)
    if state.runner is not None:
        state.runner.wake()
    return out


def refused_is_final(plan_id: str, action: str, code: str) -> Conflict:
    """The 409 for resuming or retrying a refused plan: the same request meets the same gate."""
    return Conflict(
        f"plan {plan_id} was refused by the safety gate (see its report for why), and a refused plan "
        f"cannot be {action}: the same request would be refused again. Submit a new plan whose "
        "description makes the project's lawful purpose clear.",
        code=code,
    )


async def retry_plan(
    state: AppState, plan_id: str, *, llm_model: str | None = None, idempotency_key: str | None = None
) -> CreatedPlan:
    """A new plan with the prompt and detail of a failed or cancelled one, from scratch.

    Unlike resume, nothing of the old plan is reused (it stays as it is, for reference);
    ``llm_model`` (default: the old plan's) lets the new one try another model first.
    """
    check_plan_id(plan_id)
    check_idempotency_key(idempotency_key)
    old = await state.store.read_small(lambda s: repo_plans.get_plan(s, plan_id))
    if old is None:
        raise plan_not_found(plan_id)
    if old.status == PlanStatus.REFUSED:
        raise refused_is_final(plan_id, "retried", "not_retryable")
    if old.status not in (PlanStatus.FAILED, PlanStatus.CANCELLED):
        raise Conflict(
            f"plan {plan_id} is {old.status}: only a failed or cancelled plan can be retried",
            code="not_retryable",
        )
    budget = budgets.of(old) or {}
    body = PlanCreate(
        prompt=old.prompt,
        detail=old.detail,  # type: ignore[arg-type]
        llm_model=llm_model or old.llm_model,
        max_cost=budget.get("max_cost"),
        max_tokens=budget.get("max_tokens"),
        priority=old.priority,
    )
    return await create_plan(state, body, idempotency_key, parameters={"retry_of": plan_id})


async def list_files(state: AppState, plan_id: str, *, versions: bool = False) -> list[FileOut]:
    """The plan's stored outputs so far, by name (metadata only), each with its version number;
    with ``versions``, the earlier versions reruns replaced too (``current`` false), by name and
    version."""
    check_plan_id(plan_id)

    def files(session: Session) -> list[FileOut]:
        if repo_plans.get_plan(session, plan_id) is None:
            raise plan_not_found(plan_id)
        latest = repo_versions.latest_versions(session, plan_id)
        found = [FileOut.of(f, latest.get(f.name, 0) + 1) for f in repo_files.list_files(session, plan_id)]
        if versions:
            found += [FileOut.of_version(v) for v in repo_versions.list_versions(session, plan_id)]
            found.sort(key=lambda f: (f.name, f.version))
        return found

    return await state.store.run(files)


async def read_file(state: AppState, plan_id: str, name: str, version: int | None = None) -> StoredFile:
    """One stored output with its content, or one of its earlier ``version``s (the current one's
    number gives the current file); the name is checked before anything is read."""
    check_plan_id(plan_id)
    try:
        repo_files.check_file_name(name)
    except ValueError as exc:
        raise ApiError(
            f"{name!r} is not a file of this plan: use a name from /plans/{plan_id}/files",
            code="invalid_file_name",
        ) from exc

    def read(session: Session) -> tuple[bytes, str] | None:
        if repo_plans.get_plan(session, plan_id) is None:
            raise plan_not_found(plan_id)
        if version is not None:
            earlier = repo_versions.get_version(session, plan_id, name, version)
            if earlier is not None:
                return earlier.content, earlier.sha256
            if version != repo_versions.latest_versions(session, plan_id).get(name, 0) + 1:
                return None
        f = repo_files.get_file(session, plan_id, name)
        return (f.content, f.sha256) if f is not None else None

    found = await state.store.run(read)
    if found is None:
        which = f"no version {version} of file {name!r}" if version is not None else f"no file {name!r} (yet)"
        raise NotFound(
            f"plan {plan_id} has {which}; /plans/{plan_id}/files?versions=true lists them",
            code="file_not_found",
        )
    content, digest = found
    return StoredFile(name, content, digest, media_type_of(name))


async def read_report(state: AppState, plan_id: str) -> StoredFile:
    """The HTML report; Conflict ``report_not_ready`` until the plan is completed. A refused plan
    has one too: it says why the request was not planned."""
    await completed_plan(state, plan_id, refused_too=True)
    return await read_file(state, plan_id, REPORT_FILE)


async def completed_plan(state: AppState, plan_id: str, *, refused_too: bool = False) -> Plan:
    """The plan, if it is completed (its report exists), or refused with ``refused_too``; else
    Conflict ``report_not_ready``."""
    check_plan_id(plan_id)
    plan = await state.store.read_small(lambda s: repo_plans.get_plan(s, plan_id))
    if plan is None:
        raise plan_not_found(plan_id)
    if not (plan.status == PlanStatus.COMPLETED or (refused_too and plan.status == PlanStatus.REFUSED)):
        raise Conflict(
            f"the report is not ready: the plan is {plan.status} "
            f"({plan.progress_done}/{plan.progress_total} tasks done); poll /plans/{plan_id} until completed",
            code="report_not_ready",
        )
    return plan
