"""Assemble the final plan report: one self-contained HTML5 document.

No network assets at all: the stylesheet is inline, the Gantt chart is inline
SVG, and a Content-Security-Policy forbids scripts and remote loads, as a second
line of defence behind escaping (section data comes from a language model).

Order: offline banner (if any), cover, contents, then the parts as
``content.outline`` gives them (summary, schedule, sections), as in the
Markdown twin (``markdown.py``).
"""

from __future__ import annotations

import re
from datetime import datetime
from html import escape

from planexe.report.blocks import render_block, render_text
from planexe.report.content import (
    CAVEAT,
    OFFLINE_NOTICE,
    ReportContent,
    Section,
    count,
    format_time,
    outline,
    section_is_empty,
    usage_text,
)
from planexe.report.gantt import GANTT_IDS, render_gantt
from planexe.report.style import CSS

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
OFFLINE_TAG = '<span class="tag">offline</span>'


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


def render_report(content: ReportContent, *, generated_at: datetime) -> str:
    """The complete report as an HTML5 string (UTF-8, no external resources)."""
    anchors = _Anchors()
    entries: list[tuple[str, str, bool]] = []  # (anchor, title, offline) for the contents list
    bodies: list[str] = []

    def add(key: str, heading: str, body: str, badges: str = "", is_offline: bool = False) -> None:
        anchor = anchors.take(key)
        entries.append((anchor, heading, is_offline))
        bodies.append(_section(anchor, len(entries), heading, body, badges))

    for reserved in ("contents", *GANTT_IDS):
        anchors.take(reserved)
    sections, gantt, usage, offline = content.sections, content.gantt, content.usage, content.offline
    for part in outline(content):
        if part.kind == "summary":
            add(part.key, part.heading, f'<div class="summary">{_paragraphs(content.summary or "")}</div>')
        elif part.kind == "schedule":
            add(part.key, part.heading, render_gantt(gantt))
        else:
            section = part.section
            assert section is not None
            empty = section_is_empty(section)
            body = (
                '<p class="muted">This step produced no content.</p>' if empty else render_block(section.data)
            )
            add(part.key, part.heading, body, _badges(section), section.offline)

    machine_time, human_time = format_time(generated_at)
    title_text = content.display_title
    toc = "".join(
        f'<li><span class="n">{n}</span><a href="#{anchor}">{escape(heading)}</a>'
        f"{OFFLINE_TAG if is_offline else ''}</li>"
        for n, (anchor, heading, is_offline) in enumerate(entries, start=1)
    )
    meta = [
        f'<span>Generated <time datetime="{machine_time}">{escape(human_time)}</time></span>',
        f"<span>{count(len(sections), 'plan section')}</span>",
        f"<span>{count(len(gantt), 'scheduled task')}</span>",
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
            f'<blockquote class="prompt"><span class="label">Original idea</span>{_paragraphs(content.prompt)}</blockquote>',
            f'<p class="meta">{"".join(meta)}</p></header>',
            f'<nav class="toc" id="contents" aria-label="Contents"><h2>Contents</h2><ol>{toc}</ol></nav>',
            "".join(bodies),
            f"<footer>Generated by PlanExe on {escape(human_time)}. "
            + ("Offline template output: not a real plan. " if offline else "")
            + f"{CAVEAT}</footer>",
            "</main></body></html>\n",
        ]
    )
