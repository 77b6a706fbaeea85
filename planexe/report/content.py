"""What a report says, whatever it is written as: the HTML report and its Markdown twin render this."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from planexe.report.gantt import GanttBar

OFFLINE_NOTICE = (
    "Made offline: this plan was produced by PlanExe's deterministic template generator, "
    "not by a language model. Configure an LLM provider (docs/llm-providers.md) for a real plan."
)
SCHEDULE_TITLE = "Schedule (Gantt)"
SUMMARY_TITLE = "Executive summary"
CAVEAT = "Content written by language models can be wrong; check facts, figures and dates."


@dataclass
class Section:
    key: str  # step name, used as the HTML anchor id
    title: str  # heading
    data: Any  # the step's output as JSON-able data (dict/list/scalars)
    offline: bool  # made by the offline template generator (not a language model)
    models: list[str]  # ids of the models that made it ([] for code-only steps)
    usage: dict[str, Any] | None = None  # its LLM calls, tokens and cost_usd (the envelope's "usage")


@dataclass
class ReportContent:
    """The report in the order it is shown: summary, schedule, then ``sections``."""

    title: str
    prompt: str
    sections: list[Section]
    gantt: list[GanttBar]
    offline: bool  # any section made by the offline generator: the report says so up front
    summary: str | None = None  # the executive summary's opening text
    usage: dict[str, Any] | None = None  # the whole plan's LLM use (tokens, cost_usd), on the cover

    @property
    def display_title(self) -> str:
        return str(self.title).strip() or "Project plan"


def section_heading(section: Section) -> str:
    return str(section.title).strip() or str(section.key)


def section_is_empty(section: Section) -> bool:
    return section.data in (None, "", [], {})


def usage_text(usage: dict[str, Any] | None) -> str:
    """'12,345 tokens, 0.0123 USD' (the cost only when the models have prices)."""
    if not usage:
        return ""
    tokens = int(usage.get("prompt_tokens") or 0) + int(usage.get("completion_tokens") or 0)
    cost = usage.get("cost_usd")
    return f"{tokens:,} tokens" + (f", {float(cost):.4f} USD" if cost is not None else "")


def count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


@dataclass(frozen=True)
class Part:
    """One numbered part of the report, in order: the summary, the schedule, each section."""

    kind: Literal["summary", "schedule", "section"]
    key: str  # anchor base
    heading: str
    section: Section | None = None  # for kind "section"


def outline(content: ReportContent) -> Iterator[Part]:
    """The parts in the order every rendering shows them. The schedule sits right after the
    summary rather than next to the WBS steps: it is the overview readers look for first, and
    its place must not depend on step names that live elsewhere in the pipeline."""
    if content.summary and content.summary.strip():
        yield Part("summary", "executive-summary", SUMMARY_TITLE)
    yield Part("schedule", "schedule-gantt", SCHEDULE_TITLE)
    for section in content.sections:
        yield Part("section", str(section.key), section_heading(section), section)


def format_time(moment: datetime) -> tuple[str, str]:
    """(machine-readable, human-readable) generation time; aware times are shown in UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
        return moment.isoformat(timespec="seconds"), f"{moment.day} {moment:%B %Y, %H:%M} UTC"
    return moment.isoformat(timespec="seconds"), f"{moment.day} {moment:%B %Y, %H:%M}"
