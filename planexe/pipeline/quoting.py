"""How later prompts quote earlier steps: compact text, and digests of the big sections.

Late steps quote several earlier sections, and JSON spends a good share of its tokens on
quotes, braces and repeated keys. ``render`` writes the same data as plain lines (``key:
value``, one list item per line); a step's output model can go further with a
``prompt_digest()`` that keeps only what later steps use (the risk register quotes each
risk's id, severity, title and mitigation, not its early-warning sign). Every prompt
stays within a small model's context that way, and every model reads fewer tokens.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel

MAX_ITEMS = 12  # items of one list quoted by ``render``
ITEM_SEP = "; "


@runtime_checkable
class Digestible(Protocol):
    def prompt_digest(self) -> str: ...


def _scalar(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _inline(value: Any) -> str:
    """A value on one line: dict fields joined by ``; ``, lists by ``, ``."""
    if isinstance(value, dict):
        return ITEM_SEP.join(f"{k}: {_inline(v)}" for k, v in value.items() if v not in ("", [], None))
    if isinstance(value, list):
        return ", ".join(_inline(v) for v in value[:MAX_ITEMS])
    return _scalar(value)


def render(data: Any, indent: str = "") -> str:
    """``data`` (JSON-like) as compact lines; lists of objects get one line per item."""
    if not isinstance(data, dict):
        return indent + _inline(data)
    lines: list[str] = []
    for key, value in data.items():
        if value in ("", [], None):
            continue
        if isinstance(value, list) and value and isinstance(value[0], dict):
            lines.append(f"{indent}{key}:")
            lines.extend(f"{indent}- {_inline(item)}" for item in value[:MAX_ITEMS])
        elif isinstance(value, dict):
            lines.append(f"{indent}{key}:")
            lines.append(render(value, indent + "  "))
        else:
            lines.append(f"{indent}{key}: {_inline(value)}")
    return "\n".join(lines)


def quote_output(value: BaseModel) -> str:
    """The text a prompt quotes for a step's output."""
    if isinstance(value, Digestible):
        return value.prompt_digest()
    return render(value.model_dump(mode="json"))
