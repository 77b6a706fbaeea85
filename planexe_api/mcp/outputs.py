"""The tools' structured results.

A plan's status is the REST ``PlanOut`` (so fields added there, such as an ETA
or a cost, reach agents too) with its links made absolute and two additions
for an agent: ``diagnosis`` when it failed or was stopped, and ``next_step``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from planexe_api.schemas import ErrorOut, FileOut, PlanOut, ProgressOut


class Diagnosis(BaseModel):
    failed_task: str | None = Field(description="The task that failed, if one did.")
    reason: str = Field(description="Why the plan stopped, in words.")
    recoverable: bool = Field(description="True when plan_resume is likely to finish the plan as it is.")
    remedy: str = Field(description="What to do about it.")


class PlanStatusOut(PlanOut):
    diagnosis: Diagnosis | None = Field(
        default=None,
        description="For a failed or cancelled plan: what went wrong and whether resume fixes it.",
    )
    next_step: str = Field(description="What an agent should do next with this plan.")


class PlanCreateOut(PlanStatusOut):
    created: bool = Field(description="False when an earlier plan was returned instead of a new one.")
    reused: Literal["idempotency_key", "identical_request"] | None = Field(
        default=None,
        description="Why an earlier plan was returned: the same idempotency_key, or the same "
        "prompt, detail and model shortly before (without a key).",
    )
    retry_of: str | None = Field(default=None, description="plan_retry: the plan this one retries.")


class PlanWaitOut(PlanStatusOut):
    outcome: Literal["finished", "progress", "timeout"] = Field(
        description="Why the wait ended: the plan ended, a task finished (until=progress), or time ran out."
    )
    waited_s: float


class PlanRerunOut(PlanStatusOut):
    rerun: int = Field(description="This rerun's number: 1 for the plan's first.")
    requested: list[str] = Field(description="The tasks asked for.")
    tasks: list[str] = Field(
        description="Every task that will run again, in dependency order: those asked for and all "
        "their descendants."
    )
    kept: int = Field(description="Tasks whose outputs are reused as they are.")
    llm_calls_planned: int = Field(description="LLM calls the tasks that run again make.")
    superseded_files: list[str] = Field(
        description="Files kept as earlier versions (plan_files versions=true)."
    )
    feedback: str | None


class PlanStopOut(PlanStatusOut):
    stop_requested: bool = Field(
        description="True if this call stopped the plan or asked its runner to; false if it had already ended."
    )


class PlanSummary(BaseModel):
    id: str
    status: str
    prompt_excerpt: str = Field(description="The first 200 characters of the prompt.")
    detail: str
    progress: ProgressOut
    error: ErrorOut | None
    created_at: datetime
    finished_at: datetime | None
    status_url: str


class PlanListOut(BaseModel):
    items: list[PlanSummary]
    next_cursor: str | None = Field(
        description="Pass as cursor for the next (older) page; null on the last page."
    )


class TextChunk(BaseModel):
    """A piece of a long text: read on from ``next_offset``."""

    total_chars: int
    offset: int
    content: str = Field(description="The text from offset, at most max_chars characters.")
    truncated: bool
    next_offset: int | None = Field(description="Pass as offset to read on; null at the end.")


class FileContent(TextChunk):
    name: str
    media_type: str
    size: int = Field(description="Bytes stored.")


class PlanFilesOut(BaseModel):
    plan_id: str
    status: str
    files: list[FileOut] = Field(description="Outputs stored so far; url is an absolute download link.")
    file: FileContent | None = Field(default=None, description="The text of the file asked for by name.")


class PlanFileInfoOut(BaseModel):
    plan_id: str
    artifact: Literal["report"]
    ready: bool
    reason: str | None = Field(default=None, description="Why it is not ready: the plan's status.")
    download_url: str | None = None
    content_type: str | None = None
    download_size: int | None = None
    sha256: str | None = None


class PlanReportOut(TextChunk):
    plan_id: str
    report_url: str = Field(
        description="The self-contained HTML report (send the bearer token if the service has one)."
    )
    format: Literal["markdown", "text"]


class PromptExample(BaseModel):
    title: str
    prompt: str


class PromptExamplesOut(BaseModel):
    samples: list[PromptExample]
    message: str
