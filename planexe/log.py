"""structlog set-up, done once per process.

Console rendering on a terminal, one JSON object per line otherwise. Every
event passes through ``redact``: fields whose name looks secret are masked, and
any registered secret value (API keys read from config) is cut out of every
string, so a key echoed back inside an error message does not reach a log.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET_NAME = re.compile(r"(api[_-]?key|authorization|password|secret|token)$", re.IGNORECASE)
_MASK = "***"
_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Never let ``value`` appear in a log line (keys shorter than 6 chars are too ambiguous to scrub)."""
    if value and len(value) >= 6:
        with _lock:
            _secrets.add(value)


def scrub(text: str) -> str:
    """``text`` with every registered secret masked."""
    with _lock:  # a snapshot: another thread may register a key meanwhile
        secrets = tuple(_secrets)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, _MASK)
    return text


def _scrub_value(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: (_MASK if _SECRET_NAME.search(str(k)) else _scrub_value(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_scrub_value(v) for v in value)
    if isinstance(value, BaseException):
        return scrub(repr(value))
    return value


def redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if _SECRET_NAME.search(key) and event[key] is not None:
            event[key] = _MASK
        else:
            event[key] = _scrub_value(event[key])
    return event


def _scrub_rendered(_logger: Any, _name: str, rendered: Any) -> Any:
    # Tracebacks are rendered after ``redact`` runs; scrub the final line too.
    return scrub(rendered) if isinstance(rendered, str) and _secrets else rendered


_process_fields: dict[str, Any] = {}


def bind_process(**fields: Any) -> None:
    """Fields every log line of this process carries, from every thread.

    structlog's context variables do not reach threads started elsewhere (a step run as
    a thread of the pipeline process starts with an empty context), so what identifies
    the whole process (the plan and run of a pipeline child) is merged from here.
    """
    _process_fields.update(fields)


def _merge_process_fields(
    _logger: Any, _name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in _process_fields.items():
        event.setdefault(key, value)
    return event


class _CurrentStderr:
    """``sys.stderr`` as it is when a line is written, not as it was when logging was set up:
    ``planexe run``'s progress bar (rich's Live) puts its own in place while it shows, which
    prints each line above the bar instead of onto it."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def configure_logging(fmt: str = "auto", level: str = "info", stream: Any = None) -> None:
    """Configure structlog and the stdlib root logger (Luigi logs through it)."""
    stream = stream or _CurrentStderr()
    json_output = fmt == "json" or (fmt == "auto" and not (hasattr(stream, "isatty") and stream.isatty()))
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_output
        else structlog.dev.ConsoleRenderer(colors=hasattr(stream, "isatty") and stream.isatty())
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        _merge_process_fields,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info if json_output else structlog.dev.set_exc_info,
            renderer,
            _scrub_rendered,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                renderer,
                _scrub_rendered,
            ],
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def get_logger(name: str | None = None, **ids: Any) -> Any:
    log = structlog.get_logger(name)
    return log.bind(**ids) if ids else log
