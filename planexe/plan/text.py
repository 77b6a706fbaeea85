"""Bounded text for the steps' schemas: every string a model writes has a length limit.

A schema string without ``maxLength`` lets a grammar-constrained server (llama.cpp,
vLLM, Ollama) generate one string until the context is full; small models do. Each
bound is sized for what the field holds, in characters:

    Code      40   an identifier or code ("A3", "DKK")
    Label     80   a name, title, role or short label
    Phrase   160   a list item, a target, a timing, a few words of basis
    Sentence 240   one sentence
    Brief    400   one or two sentences, a short explanation
    Paragraph 800  four to six sentences

The bound appears in the JSON schema as ``maxLength``. A longer answer (a provider that
treats the bound as a hint, as OpenAI's strict mode does) is clipped at a word boundary
rather than rejected: one retry costs more than a few characters are worth.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

ELLIPSIS = "…"


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, at a word boundary when one is near."""
    if len(text) <= limit:
        return text
    cut = text[: limit - len(ELLIPSIS)]
    space = cut.rfind(" ")
    if space >= limit * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,;:") + ELLIPSIS


def short(text: str, limit: int = 160) -> str:
    """``text`` clipped for a prompt digest."""
    return clip(text.strip(), limit)


def bullets(items: Iterable[str], limit: int = 12) -> str:
    """One ``- item`` line per item, at most ``limit``."""
    return "\n".join(f"- {item}" for item in list(items)[:limit])


@dataclass(frozen=True)
class MaxChars:
    """Annotation: the string's JSON schema gets ``maxLength``; longer values are clipped."""

    limit: int

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(lambda v: clip(v, self.limit), handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        value = handler(schema)
        value["maxLength"] = self.limit
        return value


Code = Annotated[str, MaxChars(40)]
Label = Annotated[str, MaxChars(80)]
Phrase = Annotated[str, MaxChars(160)]
Sentence = Annotated[str, MaxChars(240)]
Brief = Annotated[str, MaxChars(400)]
Paragraph = Annotated[str, MaxChars(800)]
