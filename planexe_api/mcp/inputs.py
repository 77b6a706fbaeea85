"""The tools' arguments: one pydantic model per tool, validated like the REST bodies.

Models are flat (no nested objects), so their JSON Schemas carry no ``$ref``,
which several MCP clients do not follow. Limits are the REST API's constants.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from planexe.pipeline.reruns import MAX_FEEDBACK_CHARS
from planexe_api.db.storable import StorableText
from planexe_api.mcp.limits import (
    TEXT_DEFAULT_CHARS,
    TEXT_MAX_CHARS,
    TEXT_MAX_OFFSET,
    WAIT_DEFAULT_S,
    WAIT_MAX_S,
)
from planexe_api.schemas import MAX_RERUN_TASKS, PlanCreate
from planexe_api.services.plan_actions import (
    CURSOR_MAX_CHARS,
    IDEMPOTENCY_KEY_MAX_CHARS,
    LIST_LIMIT_DEFAULT,
    LIST_LIMIT_MAX,
    StatusFilter,
)

PlanId = Field(
    description="The plan's id, as plan_create or plan_list returned it.", min_length=1, max_length=64
)
IdempotencyKey = Field(
    default=None,
    max_length=IDEMPOTENCY_KEY_MAX_CHARS,
    description="Any unique string you choose (a UUID is fine). Sending the same key again returns "
    "the plan the first call made, never a second one.",
)


class Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoArgs(Args):
    pass


class CreateArgs(Args, PlanCreate):
    """PlanCreate's fields and checks, plus the key the REST API takes as a header."""

    idempotency_key: StorableText | None = IdempotencyKey


class PlanArgs(Args):
    plan_id: str = PlanId


class WaitArgs(PlanArgs):
    timeout_s: float = Field(
        default=WAIT_DEFAULT_S,
        ge=0,
        le=WAIT_MAX_S,
        description=f"Longest wait in seconds (at most {WAIT_MAX_S}); keep it below your client's "
        "request timeout.",
    )
    until: Literal["finished", "progress"] = Field(
        default="finished",
        description="finished: return when the plan completes, fails or is stopped. progress: return "
        "as soon as one more task is done.",
    )


class ListArgs(Args):
    status: StatusFilter | None = Field(default=None, description="Only plans in this status.")
    limit: int = Field(default=LIST_LIMIT_DEFAULT, ge=1, le=LIST_LIMIT_MAX, description="Plans per page.")
    cursor: str | None = Field(
        default=None,
        max_length=CURSOR_MAX_CHARS,
        description="next_cursor of the previous page, for older plans.",
    )


class RetryArgs(PlanArgs):
    llm_model: StorableText | None = Field(
        default=None,
        max_length=100,
        description="A configured model to try first this time; default: the old plan's.",
    )
    idempotency_key: StorableText | None = IdempotencyKey


class RerunArgs(PlanArgs):
    tasks: list[Annotated[StorableText, Field(min_length=1, max_length=100)]] = Field(
        min_length=1,
        max_length=MAX_RERUN_TASKS,
        description="Tasks to regenerate, by name (e.g. cost_estimates); everything downstream of "
        "them runs again too.",
    )
    feedback: StorableText | None = Field(
        default=None,
        max_length=MAX_FEEDBACK_CHARS,
        description="What to change, in a sentence or a paragraph; it reaches every prompt of the "
        "tasks that run again.",
    )


class TextPage(Args):
    offset: int = Field(
        default=0,
        ge=0,
        le=TEXT_MAX_OFFSET,
        description="Skip this many characters (to read on from next_offset).",
    )
    max_chars: int = Field(
        default=TEXT_DEFAULT_CHARS,
        ge=1,
        le=TEXT_MAX_CHARS,
        description="Return at most this many characters.",
    )


class FilesArgs(PlanArgs, TextPage):
    name: StorableText | None = Field(
        default=None,
        max_length=500,
        description="A file name from the list: its text is returned too (JSON outputs and the report).",
    )
    version: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        description="With name: that earlier version of the file (as versions=true lists them).",
    )
    versions: bool = Field(
        default=False, description="Also list the earlier versions reruns replaced (current=false)."
    )


class FileInfoArgs(PlanArgs):
    artifact: Literal["report"] = Field(default="report", description="Which artifact; only report.")


class ReportArgs(PlanArgs, TextPage):
    format: Literal["markdown", "text"] = Field(
        default="markdown", description="markdown keeps headings, lists and tables; text is plain."
    )
