"""Request and response bodies of the HTTP API (they become the OpenAPI schema)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from planexe.pipeline.reruns import MAX_FEEDBACK_CHARS
from planexe.pipeline.rundir import MAX_PROMPT_CHARS, clean_prompt
from planexe_api.db.models import LlmUsage, Plan, PlanFile, PlanFileVersion
from planexe_api.db.storable import StorableText

PRIORITY_MIN, PRIORITY_MAX, PRIORITY_DEFAULT = -10, 10, 0  # of POST /plans: higher is claimed first


def _not_blank_pattern() -> str:
    """A JSON Schema pattern for "has a character ``str.strip()`` keeps": regex dialects disagree on
    ``\\s`` (ECMA-262's has no U+001C..U+001F or U+0085, Python's has), so the class is spelt out."""
    spaces = [code for code in range(sys.maxunicode + 1) if chr(code).isspace()]
    runs: list[list[int]] = []
    for code in spaces:
        if runs and code == runs[-1][1] + 1:
            runs[-1][1] = code
        else:
            runs.append([code, code])
    spelt = "".join(f"\\u{a:04x}" + (f"-\\u{b:04x}" if b > a else "") for a, b in runs)
    return f"[^{spelt}]"


NOT_BLANK_PATTERN = _not_blank_pattern()  # the prompt's, the idempotency key's


def aware_utc(value: datetime) -> datetime:
    """A time from a request, in UTC as the store keeps it: one without a zone, or one that leaves
    Python's range once moved to UTC (9999-12-31T23:59-05:00), is refused, not a 500 at the query."""
    if value.tzinfo is None:
        raise ValueError("give a time zone, e.g. 2030-01-07T09:00:00Z")
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("is out of range once moved to UTC (years 1 to 9999)") from exc


def _json_number(value: Any) -> Any:
    """A JSON number, as the schema says: pydantic's lax mode would take true for 1 and "5" for 5."""
    if isinstance(value, bool | str):
        raise ValueError(f"must be a JSON number, not {json.dumps(value)}")
    return value


JsonNumber = BeforeValidator(_json_number)  # for every number a request body carries


def _json_time(value: Any) -> Any:
    """A time as the schema says (an ISO 8601 string): pydantic alone would take 0 as 1970-01-01."""
    if value is not None and not isinstance(value, str):
        raise ValueError(f"must be an ISO 8601 time in a string, not {json.dumps(value)}")
    return value


JsonTime = BeforeValidator(_json_time)  # for every time a request body carries


class PlanCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"prompt": "Open a small bakery in Copenhagen"}},
    )

    prompt: StorableText = Field(
        max_length=MAX_PROMPT_CHARS,
        description=f"The project idea, one paragraph, at most {MAX_PROMPT_CHARS} characters.",
        # Declared, not enforced by pydantic (clean_prompt says what is wrong in words): not blank.
        json_schema_extra={"minLength": 1, "pattern": NOT_BLANK_PATTERN},
    )
    detail: Literal["full", "fast"] = Field(default="full", description="fast prunes the detail loops.")
    llm_model: StorableText | None = Field(
        default=None, max_length=100, description="A configured model to try first."
    )
    max_cost: Annotated[float | None, JsonNumber] = Field(
        default=None,
        gt=0,
        le=1_000_000,
        description="Budget in USD: the plan stops (failed, budget_exceeded, resumable) before its LLM calls "
        "cost more, plus the calls in flight. Needs prices for its models. Unset: PLANEXE_PLAN_MAX_COST.",
    )
    max_tokens: Annotated[int | None, JsonNumber] = Field(
        default=None,
        ge=1,
        le=10**12,
        description="Budget in LLM tokens, prompt and answer together; as max_cost. Unset: PLANEXE_PLAN_MAX_TOKENS.",
    )
    priority: Annotated[int, JsonNumber] = Field(
        default=PRIORITY_DEFAULT,
        ge=PRIORITY_MIN,
        le=PRIORITY_MAX,
        description=f"{PRIORITY_MIN}..{PRIORITY_MAX}; higher runs first: every runner claims the queued plan "
        "with the highest priority, then the oldest, and its LLM calls go first when the provider's "
        "limits are shared. A steady stream of higher-priority plans can keep a lower one waiting.",
    )

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, value: str) -> str:
        return clean_prompt(value)


class PlanResume(BaseModel):
    """Optional body of POST /plans/{id}/resume: a new budget for the plan."""

    model_config = ConfigDict(
        extra="forbid",
    )

    max_cost: Annotated[float | None, JsonNumber] = Field(
        default=None, gt=0, le=1_000_000, description="New budget in USD."
    )
    max_tokens: Annotated[int | None, JsonNumber] = Field(
        default=None, ge=1, le=10**12, description="New budget in tokens."
    )


class BudgetOut(BaseModel):
    max_cost: float | None = Field(description="USD; null: no cost limit.")
    max_tokens: int | None = Field(description="Prompt and answer tokens; null: no token limit.")


class ProgressOut(BaseModel):
    done: int
    total: int
    percent: float
    running_tasks: list[str]


class UsageOut(BaseModel):
    model: str
    calls: int
    failed_attempts: int
    prompt_tokens: int
    completion_tokens: int
    latency_s_total: float
    cost_usd: float | None = Field(default=None, description="null: the model has no prices configured.")


class LlmUsageOut(BaseModel):
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None = Field(
        default=None, description="USD so far; null: no model that answered has prices."
    )
    by_model: list[UsageOut] = Field(
        default_factory=list, description="By model id (e.g. openai/gpt-4o-mini), not config entry name."
    )


class ErrorBody(BaseModel):
    """Every error answer: a stable ``code`` to act on and a ``message`` that says what to fix."""

    code: str = Field(description="Stable, machine-readable; the table in docs/api.md lists them all.")
    message: str = Field(description="For people: what went wrong and what to do.")
    errors: list[str] | None = Field(
        default=None, description="invalid_request only: one `field: problem` per problem."
    )


class ErrorOut(BaseModel):
    code: str | None
    message: str | None
    failed_task: str | None


class EtaOut(BaseModel):
    """When the plan should be done; see ``basis`` for how it was computed (docs/dashboard.md)."""

    remaining_s: float | None = Field(
        description="Best estimate of the seconds left; null until enough calls have answered."
    )
    low_s: float | None
    high_s: float | None
    finishes_at: datetime | None
    remaining_rounds: int = Field(description="LLM rounds left on the plan's critical path.")
    seconds_per_call: float | None = Field(description="Median latency of this plan's successful LLM calls.")
    calls_observed: int
    basis: str = Field(description="How the figure was computed, in one sentence.")


class PlanOut(BaseModel):
    id: str
    status: Literal["queued", "running", "completed", "failed", "cancelled", "refused"]
    prompt: str
    detail: str
    llm_model: str | None
    priority: int = Field(default=PRIORITY_DEFAULT, description="Higher is claimed first (POST /plans).")
    attempt: int = Field(
        description="Runs since a person last queued the plan (create or resume); counts towards "
        "PLANEXE_MAX_ATTEMPTS."
    )
    run: int = Field(
        default=0,
        description="Number of the plan's latest run (0: none yet), as the `attempt` field of its "
        "events: it grows with every run and, unlike `attempt`, is not reset by a resume.",
    )
    cancel_requested: bool
    progress: ProgressOut
    llm_usage: LlmUsageOut
    budget: BudgetOut | None = Field(default=None, description="The plan's budget; null: none.")
    error: ErrorOut | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    links: dict[str, str]
    last_event_id: int = Field(
        default=0, description="Id of the plan's newest event (resume its stream after it)."
    )
    eta: EtaOut | None = Field(
        default=None, description="Only in GET /plans/{id}, for queued and running plans."
    )

    @classmethod
    def of(cls, plan: Plan, usage: list[LlmUsage]) -> PlanOut:
        """The one way a plan becomes an answer; ``usage`` is its usage by model (all of it:
        a plan must read the same in every answer, so there is no default)."""
        base = f"/plans/{plan.id}"
        total = plan.progress_total
        error = None
        if plan.error_code or plan.error_message:
            error = ErrorOut(code=plan.error_code, message=plan.error_message, failed_task=plan.failed_task)
        return cls(
            id=plan.id,
            status=plan.status,  # type: ignore[arg-type]
            prompt=plan.prompt,
            detail=plan.detail,
            llm_model=plan.llm_model,
            priority=plan.priority,
            attempt=plan.attempt,
            run=plan.fencing_token,  # the run number the pipeline writes into every event
            cancel_requested=plan.cancel_requested,
            progress=ProgressOut(
                done=plan.progress_done,
                total=total,
                percent=round(100.0 * plan.progress_done / total, 1) if total else 0.0,
                running_tasks=list(plan.running_tasks or []),
            ),
            llm_usage=LlmUsageOut(
                calls=plan.llm_calls,
                prompt_tokens=plan.prompt_tokens,
                completion_tokens=plan.completion_tokens,
                cost_usd=_usd(plan.cost_usd),
                by_model=[
                    UsageOut(
                        model=u.model,
                        calls=u.calls,
                        failed_attempts=u.failed_attempts,
                        prompt_tokens=u.prompt_tokens,
                        completion_tokens=u.completion_tokens,
                        latency_s_total=round(u.latency_s_total, 3),
                        cost_usd=_usd(u.cost_usd),
                    )
                    for u in usage
                ],
            ),
            budget=_budget(plan),
            error=error,
            created_at=plan.created_at,
            started_at=plan.started_at,
            finished_at=plan.finished_at,
            updated_at=plan.updated_at,
            links={
                "self": base,
                "events": f"{base}/events",
                "files": f"{base}/files",
                "report": f"{base}/report",
                "cancel": f"{base}/cancel",
                "resume": f"{base}/resume",
                "rerun": f"{base}/rerun",
                "dag": f"{base}/dag",
                "page": f"{base}/view",
            },
            last_event_id=plan.last_event_seq,
        )


def _usd(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _budget(plan: Plan) -> BudgetOut | None:
    budget = (plan.parameters or {}).get("budget")
    if not isinstance(budget, dict):
        return None
    return BudgetOut(max_cost=budget.get("max_cost"), max_tokens=budget.get("max_tokens"))


class PlanListOut(BaseModel):
    items: list[PlanOut]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next (older) page; null on the last page."
    )
    counts: dict[str, int] = Field(
        default_factory=dict,
        description="Plans per status matching ?q= (whatever ?status= says), every status present.",
    )


class FileOut(BaseModel):
    name: str
    task: str
    size: int
    sha256: str
    url: str
    version: int = Field(
        default=1, description="1 for a file's first output; each rerun that replaced it adds one."
    )
    current: bool = Field(default=True, description="False for an earlier version a rerun replaced.")
    superseded_at: datetime | None = Field(default=None, description="When a rerun replaced this version.")
    rerun: int | None = Field(default=None, description="The number of the rerun that replaced it.")

    @classmethod
    def of(cls, f: PlanFile, version: int = 1) -> FileOut:
        return cls(
            name=f.name,
            task=f.task,
            size=f.size,
            sha256=f.sha256,
            url=f"/plans/{f.plan_id}/files/{f.name}",
            version=version,
        )

    @classmethod
    def of_version(cls, v: PlanFileVersion) -> FileOut:
        return cls(
            name=v.name,
            task=v.task,
            size=v.size,
            sha256=v.sha256,
            url=f"/plans/{v.plan_id}/files/{v.name}?version={v.version}",
            version=v.version,
            current=False,
            superseded_at=v.superseded_at,
            rerun=v.rerun,
        )


class PlanRetry(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )

    llm_model: StorableText | None = Field(
        default=None, max_length=100, description="A configured model to try first; default: the old plan's."
    )


MAX_RERUN_TASKS = 100  # names in one rerun request (the DAG has about 60)


class RerunCreate(BaseModel):
    """Body of POST /plans/{id}/rerun."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"tasks": ["cost_estimates"], "feedback": "Make the budget fit 300k EUR."}
        },
    )

    tasks: list[Annotated[StorableText, Field(min_length=1, max_length=100)]] = Field(
        min_length=1,
        max_length=MAX_RERUN_TASKS,
        description="Tasks to regenerate, by the names `planexe graph` and /plans/{id}/dag give; "
        "everything downstream of them runs again too.",
    )
    feedback: StorableText | None = Field(
        default=None,
        max_length=MAX_FEEDBACK_CHARS,
        description="What to change, added to every prompt of the tasks that run again and recorded "
        "in their outputs.",
    )


class RerunOut(BaseModel):
    plan: PlanOut = Field(description="The plan, queued again.")
    rerun: int = Field(description="This rerun's number: 1 for the plan's first.")
    requested: list[str] = Field(description="The tasks asked for.")
    tasks: list[str] = Field(
        description="Every task that will run again, in dependency order: those asked for and all "
        "their descendants (the report always among them)."
    )
    kept: int = Field(description="Tasks whose outputs are reused as they are.")
    llm_calls_planned: int = Field(
        description="LLM calls the tasks that run again make at the plan's detail."
    )
    superseded_files: list[str] = Field(
        description="Stored files now kept as earlier versions (GET /plans/{id}/files?versions=true)."
    )
    feedback: str | None


REPLAY_LIMIT_DEFAULT, REPLAY_LIMIT_MAX = 20, 100  # plans one POST /plans/resume may resume


class PlanReplay(BaseModel):
    """Body of POST /plans/resume: which failed or cancelled plans to queue again."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"status": "failed", "error_code": "timeout", "limit": 20}},
    )

    status: Literal["failed", "cancelled"] = Field(default="failed", description="Plans in this status.")
    error_code: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[a-z][a-z0-9_]*$",
        description="Only plans that failed with this code (api.md, Failure codes), e.g. timeout.",
    )
    since: Annotated[datetime | None, JsonTime] = Field(
        default=None, description="Only plans that ended at or after this time (ISO 8601 with a zone)."
    )
    limit: Annotated[int, JsonNumber] = Field(
        default=REPLAY_LIMIT_DEFAULT,
        ge=1,
        le=REPLAY_LIMIT_MAX,
        description=f"At most this many plans, the oldest first (at most {REPLAY_LIMIT_MAX} per request).",
    )

    @field_validator("since")
    @classmethod
    def _since(cls, value: datetime | None) -> datetime | None:
        return None if value is None else aware_utc(value)


class SkippedPlan(BaseModel):
    id: str
    code: str = Field(description="Why it was not resumed: the error single resume would answer.")
    message: str


class ReplayOut(BaseModel):
    matched: int = Field(description="Plans that matched the filter (at most limit).")
    resumed: list[str] = Field(description="Ids queued again, in the order they were resumed.")
    skipped: list[SkippedPlan] = Field(
        description="Plans that matched but could not be resumed; they match again next time."
    )
