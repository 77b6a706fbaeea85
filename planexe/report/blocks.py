"""Render arbitrary JSON-able data as readable HTML.

The data comes from a language model, so it is treated as hostile: every
string is escaped, and only http(s) URLs become links (never ``javascript:``,
``data:`` or relative ones).

Shape rules (``shapes.py``, shared with the Markdown twin): top-level dict keys
with substantial values become sub-headings; other dicts become definition
lists; lists of flat dicts become tables; lists of scalars become bullet lists;
nesting below ``COLLAPSE_DEPTH`` folds into ``<details>``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from html import escape
from itertools import groupby
from typing import Any

from planexe.report.shapes import (
    COLLAPSE_DEPTH,
    HEADING_DEPTHS,
    LONG_TEXT,
    MAX_DEPTH,
    card_title_key,
    is_scalar,
    is_substantial,
    numeric_columns,
    sequence_shape,
    union_keys,
)

ACRONYMS = {
    "id",
    "ids",
    "wbs",
    "kpi",
    "kpis",
    "url",
    "urls",
    "api",
    "llm",
    "roi",
    "swot",
    "raci",
    "pmo",
    "ceo",
}

_URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?)]}'\""
_BULLET = re.compile(r"^\s*(?:[-*•]|\d{1,3}[.)])\s+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

Scalar = str | int | float | bool | None


def humanise(key: object) -> str:
    """``"start_date"`` → ``"Start date"``, ``"kpiTargets"`` → ``"KPI targets"``."""
    words = _CAMEL.sub(" ", str(key)).replace("_", " ").replace("-", " ").split()
    out = [w.upper() if w.lower() in ACRONYMS else w.lower() for w in words]
    if out and out[0].lower() not in ACRONYMS:
        out[0] = out[0][:1].upper() + out[0][1:]
    return " ".join(out) or "—"


def format_number(value: int | float) -> str:
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value.is_integer() and abs(value) < 1e15:
            value = int(value)
        else:
            text = f"{value:,.2f}" if abs(value) >= 10_000 else f"{value:.2f}"
            return text.rstrip("0").rstrip(".")
    # Four-digit integers are usually years or codes; separators would read "2,025".
    return f"{value:,}" if abs(value) >= 10_000 else str(value)


def inline_text(text: str) -> str:
    """Escape ``text``, turning bare http(s) URLs into links."""
    parts: list[str] = []
    pos = 0
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(_URL_TRAILING)
        if len(url) <= len("https://"):
            continue
        parts.append(escape(text[pos : match.start()]))
        parts.append(f'<a href="{escape(url)}" rel="noopener noreferrer nofollow">{escape(url)}</a>')
        pos = match.start() + len(url)
    parts.append(escape(text[pos:]))
    return "".join(parts)


def render_text(text: str) -> str:
    """Short text inline; long or multi-line text as paragraphs and bullet lists."""
    text = text.strip()
    if len(text) <= LONG_TEXT and "\n" not in text:
        return inline_text(text)
    out: list[str] = []
    for para in re.split(r"\n\s*\n", text):
        lines = [line for line in para.splitlines() if line.strip()]
        # Runs of bullet lines become lists; the lines between them stay paragraphs.
        for is_bullet, run in groupby(lines, key=lambda line: bool(_BULLET.match(line))):
            if is_bullet:
                items = "".join(f"<li>{inline_text(_BULLET.sub('', line, count=1))}</li>" for line in run)
                out.append(f'<ul class="list">{items}</ul>')
            else:
                out.append("<p>" + "<br>".join(inline_text(line.strip()) for line in run) + "</p>")
    return "".join(out)


def render_scalar(value: Scalar) -> str:
    if value is None:
        return '<span class="muted">—</span>'
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, int | float):
        return format_number(value)
    if value.strip() == "":
        return '<span class="muted">—</span>'
    return render_text(value)


def render_block(value: Any, depth: int = 0) -> str:
    """Render any JSON-able value; ``depth`` is how deep inside the section it sits."""
    if is_scalar(value):
        return render_scalar(value)
    if depth >= MAX_DEPTH:
        return f"<pre>{escape(json.dumps(value, indent=1, ensure_ascii=False, default=str))}</pre>"
    if depth >= COLLAPSE_DEPTH and value:
        count = len(value) if isinstance(value, Mapping | Sequence) else 0
        noun = "field" if isinstance(value, Mapping) else "item"
        label = f"{count} {noun}{'s' if count != 1 else ''}"
        return f"<details><summary>{label}</summary>{_render_container(value, depth)}</details>"
    return _render_container(value, depth)


def _render_container(value: Any, depth: int) -> str:
    if isinstance(value, Mapping):
        return _render_mapping(value, depth)
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return _render_sequence(value, depth)
    return escape(str(value))


def _render_mapping(mapping: Mapping[Any, Any], depth: int) -> str:
    if not mapping:
        return '<p class="muted">Nothing recorded.</p>'
    if depth >= HEADING_DEPTHS:
        return _dl(mapping.items(), depth)
    tag = "h3" if depth == 0 else "h4"
    out: list[str] = []
    pending: list[tuple[Any, Any]] = []
    for key, item in mapping.items():
        if not is_substantial(item):
            pending.append((key, item))
            continue
        if pending:
            out.append(_dl(pending, depth))
            pending = []
        out.append(f"<{tag}>{escape(humanise(key))}</{tag}>{render_block(item, depth + 1)}")
    if pending:
        out.append(_dl(pending, depth))
    return "".join(out)


def _dl(items: Any, depth: int) -> str:
    rows = "".join(
        f"<dt>{escape(humanise(key))}</dt><dd>{render_block(item, depth + 1)}</dd>" for key, item in items
    )
    return f'<dl class="kv">{rows}</dl>'


def _render_sequence(items: Sequence[Any], depth: int) -> str:
    shape = sequence_shape(items)
    if shape == "empty":
        return '<p class="muted">None.</p>'
    if shape == "bullets":
        lis = "".join(f"<li>{render_scalar(item)}</li>" for item in items)
        return f'<ul class="list">{lis}</ul>'
    if shape == "table":
        return _table(items, union_keys(items))
    if shape == "cards":
        return _cards(items, depth)
    lis = "".join(f"<li>{render_block(item, depth + 1)}</li>" for item in items)
    return f'<ol class="list">{lis}</ol>'


def _table(rows: Sequence[Mapping[Any, Any]], columns: list[Any]) -> str:
    numeric = numeric_columns(rows, columns)

    def cls(col: Any) -> str:
        return ' class="num"' if col in numeric else ""

    head = "".join(f'<th scope="col"{cls(c)}>{escape(humanise(c))}</th>' for c in columns)
    body = []
    for row in rows:
        cells = "".join(f"<td{cls(c)}>{_cell(row.get(c))}</td>" for c in columns)
        body.append(f"<tr>{cells}</tr>")
    return (
        f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _cell(value: Any) -> str:
    if isinstance(value, list):
        if not value:
            return '<span class="muted">—</span>'
        return '<ul class="list">' + "".join(f"<li>{render_scalar(v)}</li>" for v in value) + "</ul>"
    return render_scalar(value)


def _cards(items: Sequence[Mapping[Any, Any]], depth: int) -> str:
    cards = []
    for item in items:
        title_key = card_title_key(item)
        rest = [(k, v) for k, v in item.items() if k != title_key]
        title = f'<p class="card-title">{inline_text(item[title_key])}</p>' if title_key else ""
        body = _dl(rest, depth + 1) if rest else ""
        cards.append(f'<li class="card">{title}{body}</li>')
    return f'<ol class="cards">{"".join(cards)}</ol>'
