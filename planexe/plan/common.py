"""Pieces shared by the plan steps: house rules for prompts, sizing by detail, id-restricted models.

Lists whose length drives a later batch are bounded exactly in the schema, so the
number of LLM calls a step declares is the number it makes. Where a model must
name an earlier item (an assumption, a work package, a document), the schema it
is asked with turns the id field into an enum of the real ids, so it cannot
invent one; the stored output keeps the plain static model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal, TypeVar, cast

from pydantic import BaseModel, create_model

from planexe.pipeline.rundir import Detail

M = TypeVar("M", bound=BaseModel)

Level = Literal["low", "medium", "high"]

HOUSE_RULES = """\
How to write:
- Write for the lead of this particular project. Use the names, places, quantities, dates and \
constraints from the project description and the earlier sections; when you need a fact that is \
not given, assume a concrete, plausible value and make it explicit.
- No filler. Never write advice that would fit any project ("communicate effectively", "ensure \
quality", "monitor progress"). Each item must be specific enough that someone could act on it or \
check it.
- Keep text fields short: one or two sentences unless the field says otherwise.
- Write in the language of the project description.
- Answer with JSON only, filling every field; where the schema fixes the number of items in a list, \
give exactly that many."""


def system_prompt(text: str) -> str:
    """A step's own instructions followed by the rules every step shares."""
    return f"{text.strip()}\n\n{HOUSE_RULES}"


def by_detail(detail: Detail, full: int, fast: int) -> int:
    return full if detail == "full" else fast


def id_enum(ids: Sequence[str]) -> Any:
    """A ``Literal`` over ``ids``: in the JSON schema it becomes an enum of exactly these values."""
    if not ids:
        raise ValueError("an id enum needs at least one id")
    return Literal[tuple(dict.fromkeys(ids))]


def retype(model: type[M], **types: Any) -> type[M]:
    """A subclass of ``model`` with some fields re-typed, keeping their descriptions and bounds.

    Used to narrow an id field to an enum of real ids for one call; instances are
    still instances of ``model``, so the answer is stored as the static type.
    """
    fields: dict[str, Any] = {name: (kind, model.model_fields[name]) for name, kind in types.items()}
    return cast(type[M], create_model(model.__name__, __base__=model, **fields))


def list_of(item: Any) -> Any:
    """``list[item]`` for an item type built at run time."""
    return list[item]


def compact(value: BaseModel | dict[str, Any] | list[Any]) -> str:
    """Compact JSON for quoting an item inside a prompt."""
    data = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))
