"""The Jinja2 environment of the dashboard: autoescaped templates, filters for times and sizes."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from planexe import __version__

WEB_DIR = Path(__file__).parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"


def duration(seconds: float | None) -> str:
    """2 h 5 min, 3 min 20 s, 12 s, 0.4 s."""
    if seconds is None:
        return "—"
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"


def when(value: datetime | None) -> str:
    """A UTC time people read: 2026-12-01 10:24:52 UTC."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"


def iso(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else ""


def size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / 1024 / 1024:.1f} MB"


def humanize(key: str) -> str:
    """A schema field name as a heading: ``key_risks`` -> ``Key risks``."""
    text = str(key).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def number(n: float | int) -> str:
    return f"{n:,}"


def cost_keys(record: dict[str, Any]) -> list[str]:
    """The cost fields of a usage record (prices are optional in the LLM config)."""
    return [key for key in record if "cost" in key]


TABLE_MAX_COLUMNS = 6


def table_columns(items: Any) -> list[str] | None:
    """The columns, if ``items`` reads best as a table: records with the same few scalar fields."""
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        return None
    columns = list(items[0])
    if not columns or len(columns) > TABLE_MAX_COLUMNS:
        return None
    for item in items:
        if list(item) != columns or any(isinstance(v, dict | list) for v in item.values()):
            return None
    return columns


def query(params: dict[str, Any], **changes: Any) -> str:
    """A query string: ``params`` with ``changes``, empty values left out."""
    merged = {**params, **changes}
    return urlencode({k: v for k, v in merged.items() if v not in (None, "")})


@lru_cache(maxsize=1)
def asset_version() -> str:
    """Changes whenever a static file does, so browsers never keep an old script or stylesheet."""
    digest = hashlib.sha256(__version__.encode())
    for path in sorted(STATIC_DIR.rglob("*")):
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def static_url(name: str) -> str:
    return f"/static/{name}?v={asset_version()}"


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters.update(
        duration=duration,
        when=when,
        iso=iso,
        size=size,
        humanize=humanize,
        number=number,
        cost_keys=cost_keys,
        table_columns=table_columns,
    )
    env.globals.update(static=static_url, query=query, version=__version__)
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)
