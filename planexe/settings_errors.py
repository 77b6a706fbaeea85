"""A settings error as one line a person can act on: the variable, its value, what is allowed.

pydantic names the field (``heartbeat_s``) and says what went wrong in its own
words over many lines; the person set ``PLANEXE_HEARTBEAT_S`` and needs to
know what to put there instead. The allowed values are read off the field
itself (its type, its bounds, its choices), so they cannot drift from the
setting's definition.
"""

from __future__ import annotations

import os
import types
import typing
from pathlib import Path
from typing import Any, Literal

from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel, SecretStr, ValidationError

ENV_PREFIX = "PLANEXE_"
MAX_SHOWN_CHARS = 60  # a value longer than this is cut when echoed
# Never echoed: a secret, or a URL that may hold a password.
_UNSHOWN = frozenset({"database_url"})


def env_name(field: str) -> str:
    """The variable a person set for ``field`` (DATABASE_URL stands in for PLANEXE_DATABASE_URL)."""
    name = f"{ENV_PREFIX}{field.upper()}"
    if field == "database_url" and name not in os.environ and "DATABASE_URL" in os.environ:
        return "DATABASE_URL"
    return name


def describe_settings_error(exc: ValidationError, model: type[BaseModel]) -> str:
    """Every problem of ``exc`` in one line, each naming its environment variable."""
    return "; ".join(_describe(error, model) for error in exc.errors())


def _describe(error: Any, model: type[BaseModel]) -> str:
    loc = error.get("loc") or ()
    reason = _reason(error)
    if not loc or loc[0] not in model.model_fields:
        return reason  # a rule across settings: its message names the variables itself
    field = str(loc[0])
    info = model.model_fields[field]
    subject = env_name(field)
    if field not in _UNSHOWN and not _is_secret(info.annotation):
        subject = f"{subject}={_shown(error.get('input'))}"
    if error.get("type") == "value_error":
        return f"{subject}: {reason}"
    return f"{subject} is not allowed: give {allowed_values(info.annotation, info.metadata)}"


def _reason(error: Any) -> str:
    message = str(error.get("msg", "invalid"))
    return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    if len(text) > MAX_SHOWN_CHARS:
        text = text[:MAX_SHOWN_CHARS] + "..."
    return text if text and not any(c.isspace() for c in text) else repr(text)


def _is_secret(annotation: Any) -> bool:
    return SecretStr in _members(annotation)


def _members(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def allowed_values(annotation: Any, metadata: list[Any]) -> str:
    """What a field accepts, in words: ``a whole number from 1 to 256 (or leave it unset)``."""
    members = _members(annotation)
    optional = type(None) in members
    kind = next(m for m in members if m is not type(None))
    if typing.get_origin(kind) is Literal:
        text = "one of " + ", ".join(str(choice) for choice in typing.get_args(kind))
    elif kind is bool:
        text = "true or false"
    elif kind in (int, float):
        text = ("a whole number" if kind is int else "a number") + _bounds(metadata)
    elif kind is Path:
        text = "a path"
    else:
        text = "a text value"
    return f"{text} (or leave it unset)" if optional else text


def _bounds(metadata: list[Any]) -> str:
    low = next((item for item in metadata if isinstance(item, Ge | Gt)), None)
    high = next((item for item in metadata if isinstance(item, Le | Lt)), None)
    if isinstance(low, Ge) and isinstance(high, Le):
        return f" from {_number(low.ge)} to {_number(high.le)}"
    parts = []
    if low is not None:
        parts.append(
            f"at least {_number(low.ge)}" if isinstance(low, Ge) else f"greater than {_number(low.gt)}"
        )
    if high is not None:
        parts.append(
            f"at most {_number(high.le)}" if isinstance(high, Le) else f"less than {_number(high.lt)}"
        )
    return " " + " and ".join(parts) if parts else ""


def _number(value: Any) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"
