"""Find the JSON in an answer that real models wrapped in something else.

Models asked for JSON often add to it: a ```json fence (most chat models in JSON
mode), a ``<think>...</think>`` block first (reasoning models served by Ollama or
vLLM), or a sentence before and after ("Sure! Here is the JSON: ..."). The JSON
itself may be fine; ``extract_json`` returns it with the repairs it took, so the
executor can accept it and count what it fixed instead of spending a retry.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum


class Repair(StrEnum):
    THINK_BLOCK = "think_block"  # a <think>...</think> (or <thinking>) block removed
    CODE_FENCE = "code_fence"  # the JSON was inside a ``` fence
    PROSE = "prose"  # text before or after the JSON removed


@dataclass(frozen=True)
class Extracted:
    text: str  # the JSON text alone
    repairs: tuple[Repair, ...]


_OPEN_THINK = re.compile(r"\s*<(think|thinking|reasoning)>", re.I)
_THINK = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.S | re.I)
_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\r?\n?(.*?)```", re.S)
_decoder = json.JSONDecoder()


def _first_json(text: str) -> tuple[int, int] | None:
    """Start and end of the first complete JSON object or array in ``text``."""
    for match in re.finditer(r"[{\[]", text):
        try:
            _, end = _decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        return match.start(), end
    return None


def extract_json(content: str) -> Extracted | None:
    """The JSON inside ``content`` and how it was found; None if there is no complete JSON value.

    Plain JSON (surrounding whitespace aside) comes back with no repairs.
    """
    repairs: list[Repair] = []
    text = content
    if _OPEN_THINK.match(text) and not _THINK.search(text):
        return None  # the reasoning was cut off: any JSON in it is a thought, not the answer
    stripped = _THINK.sub("", text)
    if stripped != text:
        repairs.append(Repair.THINK_BLOCK)
        text = stripped
    fenced = _FENCE.search(text)
    if fenced and _first_json(fenced.group(1)) is not None:
        outside = (text[: fenced.start()] + text[fenced.end() :]).strip()
        repairs.append(Repair.CODE_FENCE)
        if outside:
            repairs.append(Repair.PROSE)
        text = fenced.group(1)
    span = _first_json(text)
    if span is None:
        return None
    start, end = span
    if (text[:start].strip() or text[end:].strip()) and Repair.PROSE not in repairs:
        repairs.append(Repair.PROSE)
    return Extracted(text[start:end], tuple(repairs))
