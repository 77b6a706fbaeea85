"""How a section's JSON data is laid out, decided once for every rendering (HTML and Markdown).

The renderers in ``blocks.py`` (HTML) and ``markdown.py`` ask these functions
what shape a value takes and only differ in how they write that shape, so a
section reads the same in the report, its Markdown twin and any later format.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

HEADING_DEPTHS = 2  # dict levels that get sub-headings before falling back to key/value lists
COLLAPSE_DEPTH = 4  # containers nested this deep are folded (<details> in HTML)
MAX_DEPTH = 10  # beyond this, show the raw JSON instead of recursing further
LONG_TEXT = 180  # characters; longer strings are laid out as paragraphs
MAX_TABLE_COLUMNS = 7  # wider "flat" records read better as cards
MAX_CELL_ITEMS = 12  # a list longer than this in a record makes it not flat
TITLE_KEYS = ("title", "name", "label", "heading")

SequenceShape = Literal["empty", "bullets", "table", "cards", "items"]


def is_scalar(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_substantial(value: Any) -> bool:
    """Whether a value deserves its own sub-heading rather than a row in a key/value list."""
    if isinstance(value, str):
        return len(value) > LONG_TEXT or "\n" in value.strip()
    return bool(value) and not is_scalar(value)


def union_keys(rows: Sequence[Mapping[Any, Any]]) -> list[Any]:
    return list(dict.fromkeys(key for row in rows for key in row))


def is_flat(row: Mapping[Any, Any]) -> bool:
    return all(
        is_scalar(v) or (isinstance(v, list) and len(v) <= MAX_CELL_ITEMS and all(is_scalar(x) for x in v))
        for v in row.values()
    )


def sequence_shape(items: Sequence[Any]) -> SequenceShape:
    """bullets (all scalars), table (flat records, few columns), cards (other records), items (mixed)."""
    if not items:
        return "empty"
    if all(is_scalar(item) for item in items):
        return "bullets"
    if all(isinstance(item, Mapping) for item in items):
        if len(union_keys(items)) <= MAX_TABLE_COLUMNS and all(is_flat(item) for item in items):
            return "table"
        return "cards"
    return "items"


def numeric_columns(rows: Sequence[Mapping[Any, Any]], columns: Sequence[Any]) -> set[Any]:
    """Columns holding numbers (or nothing) in every row: right-aligned."""
    return {
        col
        for col in columns
        if any(is_number(r.get(col)) for r in rows)
        and all(r.get(col) is None or is_number(r.get(col)) for r in rows)
    }


def card_title_key(item: Mapping[Any, Any]) -> Any | None:
    """The key whose text names a card, if any (its other fields are listed under it)."""
    return next((k for k in TITLE_KEYS if isinstance(item.get(k), str) and item.get(k)), None)
