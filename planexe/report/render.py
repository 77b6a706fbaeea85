"""Assemble the final plan report: one self-contained HTML5 document.

No network assets at all: the stylesheet is inline, the Gantt chart is inline
SVG, and a Content-Security-Policy forbids scripts and remote loads, as a second
line of defence behind escaping (section data comes from a language model).

Order: offline banner (if any), cover, contents, executive summary, schedule,
then the sections as given. The schedule sits right after the summary rather
than next to the WBS steps: it is the overview readers look for first, and its
place must not depend on step names that live elsewhere in the pipeline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any

from planexe.report.blocks import render_block, render_text
from planexe.report.gantt import GANTT_IDS, GanttBar, render_gantt
from planexe.report.style import CSS

OFFLINE_NOTICE = (
    "Made offline: this plan was produced by PlanExe's deterministic template generator, "
    "not by a language model. Configure an LLM provider (docs/llm-providers.md) for a real plan."
)
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
OFFLINE_TAG = '<span class="tag">offline</span>'
SCHEDULE_TITLE = "Schedule (Gantt)"
SUMMARY_TITLE = "Executive summary"


@dataclass
class Section:
    key: str  # step name, used as the HTML anchor id
    title: str  # heading
    data: Any  # the step's output as JSON-able data (dict/list/scalars)
    offline: bool  # made by the offline template generator (not a language model)
    models: list[str]  # ids of the models that made it ([] for code-only steps)
    usage: dict[str, Any] | None = None  # its LLM calls, tokens and cost_usd (the envelope's "usage")


def usage_text(usage: dict[str, Any] | None) -> str:
    """'12,345 tokens, 0.0123 USD' (the cost only when the models have prices)."""
    if not usage:
        return ""
    tokens = int(usage.get("prompt_tokens") or 0) + int(usage.get("completion_tokens") or 0)
    cost = usage.get("cost_usd")
    return f"{tokens:,} tokens" + (f", {float(cost):.4f} USD" if cost is not None else "")


class _Anchors:
    """Hands out unique, attribute-safe ids (section keys are data, not trusted markup)."""

    def __init__(self) -> None:
        self._used: set[str] = set()

    def take(self, key: str) -> str:
        base = re.sub(r"[^A-Za-z0-9_-]+", "-", key).strip("-") or "section"
        if not base[0].isalpha():
            base = f"s-{base}"
        anchor, n = base, 2
        while anchor in self._used:
            anchor, n = f"{base}-{n}", n + 1
        self._used.add(anchor)
        return anchor


def _format_time(moment: datetime) -> tuple[str, str]:
    """(machine-readable, human-readable) generation time; aware times are shown in UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
        return moment.isoformat(timespec="seconds"), f"{moment.day} {moment:%B %Y, %H:%M} UTC"
    return moment.isoformat(timespec="seconds"), f"{moment.day} {moment:%B %Y, %H:%M}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _paragraphs(text: str) -> str:
    html = render_text(text)
    return html if html.startswith(("<p>", "<ul")) else f"<p>{html}</p>"


def _badges(section: Section) -> str:
    if section.offline:
        return '<span class="badge offline" title="Made by the offline template generator">offline template</span>'
    if not section.models:
        return '<span class="badge code" title="Computed by code, no language model">computed</span>'
    spent = usage_text(section.usage)
    return "".join(
        f'<span class="badge" title="Model that wrote this section">{escape(str(m))}</span>'
        for m in dict.fromkeys(section.models)
    ) + (f'<span class="badge code" title="What its LLM calls used">{escape(spent)}</span>' if spent else "")


def _section(anchor: str, number: int, title: str, body: str, badges: str = "") -> str:
    badge_html = f'<div class="badges">{badges}</div>' if badges else ""
    return (
        f'<section class="section" id="{anchor}">'
        f'<div class="section-head"><h2><span class="n">{number}</span>{escape(title)}</h2>'
        f"{badge_html}</div>{body}</section>"
    )


def _banner() -> str:
    head, _, rest = OFFLINE_NOTICE.partition(": ")
    return (
        '<div class="banner" role="note"><span class="icon" aria-hidden="true">⚠</span>'
        f"<div><strong>{escape(head)}</strong><p>{escape(rest[:1].upper() + rest[1:])}</p></div></div>"
    )


def render_report(
    *,
    title: str,
    prompt: str,
    sections: list[Section],
    gantt: list[GanttBar],
    offline: bool,
    generated_at: datetime,
    summary: str | None = None,
    usage: dict[str, Any] | None = None,
) -> str:
    """The complete report as an HTML5 string (UTF-8, no external resources); ``usage`` is the whole
    plan's LLM use (tokens, cost_usd), shown on the cover."""
    anchors = _Anchors()
    entries: list[tuple[str, str, bool]] = []  # (anchor, title, offline) for the contents list
    bodies: list[str] = []

    def add(key: str, heading: str, body: str, badges: str = "", is_offline: bool = False) -> None:
        anchor = anchors.take(key)
        entries.append((anchor, heading, is_offline))
        bodies.append(_section(anchor, len(entries), heading, body, badges))

    for reserved in ("contents", *GANTT_IDS):
        anchors.take(reserved)
    if summary and summary.strip():
        add("executive-summary", SUMMARY_TITLE, f'<div class="summary">{_paragraphs(summary)}</div>')
    add("schedule-gantt", SCHEDULE_TITLE, render_gantt(gantt))
    for section in sections:
        heading = str(section.title).strip() or str(section.key)
        empty = section.data in (None, "", [], {})
        body = '<p class="muted">This step produced no content.</p>' if empty else render_block(section.data)
        add(str(section.key), heading, body, _badges(section), section.offline)

    machine_time, human_time = _format_time(generated_at)
    title_text = str(title).strip() or "Project plan"
    toc = "".join(
        f'<li><span class="n">{n}</span><a href="#{anchor}">{escape(heading)}</a>'
        f"{OFFLINE_TAG if is_offline else ''}</li>"
        for n, (anchor, heading, is_offline) in enumerate(entries, start=1)
    )
    meta = [
        f'<span>Generated <time datetime="{machine_time}">{escape(human_time)}</time></span>',
        f"<span>{_count(len(sections), 'plan section')}</span>",
        f"<span>{_count(len(gantt), 'scheduled task')}</span>",
        "<span>Made offline, without a language model</span>" if offline else "",
        f"<span>LLM: {escape(usage_text(usage))}</span>" if usage else "",
    ]
    return "".join(
        [
            "<!DOCTYPE html>\n",
            '<html lang="en"><head><meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<meta name="color-scheme" content="light dark">',
            '<meta name="generator" content="PlanExe">',
            f"<title>{escape(title_text)}</title><style>{CSS}</style></head>",
            '<body><main class="page">',
            _banner() if offline else "",
            '<header class="cover"><p class="eyebrow">PlanExe project plan</p>',
            f"<h1>{escape(title_text)}</h1>",
            f'<blockquote class="prompt"><span class="label">Original idea</span>{_paragraphs(prompt)}</blockquote>',
            f'<p class="meta">{"".join(meta)}</p></header>',
            f'<nav class="toc" id="contents" aria-label="Contents"><h2>Contents</h2><ol>{toc}</ol></nav>',
            "".join(bodies),
            f"<footer>Generated by PlanExe on {escape(human_time)}. "
            + ("Offline template output: not a real plan. " if offline else "")
            + "Content written by language models can be wrong; check facts, figures and dates.</footer>",
            "</main></body></html>\n",
        ]
    )
