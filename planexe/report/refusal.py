"""The report of a refused plan: one short document that says what was decided and why.

Same document shape, stylesheet and Content-Security-Policy as a full report
(``render.py``), so a reader who opens it from the dashboard or the API sees the
usual page with one section instead of a broken link or an error; the Markdown
twin (``GET /plans/{id}/report.md``, MCP's plan_report) says the same in text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from html import escape

from planexe.report.blocks import render_text
from planexe.report.content import format_time
from planexe.report.render import CSP
from planexe.report.style import CSS

REFUSED_TITLE = "Request declined"
WHY_TITLE = "Why this request was not planned"
STAND_IN_NOTE = (
    "This decision was made by a stand-in (the offline template generator or a test server), "
    "not by a language model."
)
FOOTER = (
    "PlanExe checks every request before planning it and does not plan violence, weapons, fraud, "
    "self-harm or clearly illegal projects. If you think this decision is wrong, describe the "
    "project's lawful purpose more fully and submit it again."
)


@dataclass(frozen=True)
class Refusal:
    """What the safety gate decided about a request, as the refused plan's report shows it."""

    prompt: str
    reason: str
    category: str
    message: str
    offline: bool  # decided by the offline generator: the report says so
    models: list[str] = field(default_factory=list)  # ids of the models that decided

    def facts(self) -> list[tuple[str, str]]:
        return [
            ("Decision", "refused: no plan was made"),
            ("Category", self.category.replace("_", " ")),
            ("Reason", self.reason),
            ("Decided by", ", ".join(self.models) or "the configured model"),
        ]


def _paragraph(text: str) -> str:
    html = render_text(text)
    return html if html.startswith(("<p>", "<ul")) else f"<p>{html}</p>"


def render_refusal(refusal: Refusal, *, generated_at: datetime) -> str:
    """The refused plan's report as an HTML5 string: the polite refusal, then the recorded decision."""
    machine_time, human_time = format_time(generated_at)
    facts = "".join(f"<dt>{escape(k)}</dt><dd>{render_text(v)}</dd>" for k, v in refusal.facts())
    note = f'<p class="muted">{escape(STAND_IN_NOTE)}</p>' if refusal.offline else ""
    return "".join(
        [
            "<!DOCTYPE html>\n",
            '<html lang="en"><head><meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<meta name="color-scheme" content="light dark">',
            '<meta name="generator" content="PlanExe">',
            f"<title>{REFUSED_TITLE}</title><style>{CSS}</style></head>",
            '<body><main class="page">',
            '<header class="cover"><p class="eyebrow">PlanExe</p>',
            f"<h1>{REFUSED_TITLE}</h1>",
            f'<blockquote class="prompt"><span class="label">Original request</span>{_paragraph(refusal.prompt)}'
            "</blockquote>",
            f'<p class="meta"><span>Decided <time datetime="{machine_time}">{escape(human_time)}</time>'
            "</span><span>1 LLM call</span></p></header>",
            f'<section class="section" id="refusal"><div class="section-head"><h2>{WHY_TITLE}</h2></div>',
            f'<div class="summary">{_paragraph(refusal.message)}</div>',
            f'<dl class="kv">{facts}</dl>{note}</section>',
            f"<footer>{escape(FOOTER)}</footer>",
            "</main></body></html>\n",
        ]
    )


def render_refusal_markdown(refusal: Refusal, *, generated_at: datetime) -> str:
    """The same report as Markdown."""
    _, human_time = format_time(generated_at)
    lines = [
        f"# {REFUSED_TITLE}",
        "",
        f"> **Original request:** {' '.join(refusal.prompt.split())}",
        "",
        f"*Decided {human_time} · 1 LLM call*",
        "",
        f"## {WHY_TITLE}",
        "",
        refusal.message.strip(),
        "",
        *(f"- **{k}:** {' '.join(v.split())}" for k, v in refusal.facts()),
        "",
    ]
    if refusal.offline:
        lines += [f"*{STAND_IN_NOTE}*", ""]
    lines += ["---", "", FOOTER, ""]
    return "\n".join(lines)
