"""How long an answer to a JSON schema can be, and where a schema lets it run on.

A grammar-constrained server (llama.cpp, vLLM, Ollama) turns the schema into a
grammar; a string without ``maxLength`` or an array without ``maxItems`` then lets
a small model generate until its context is full. ``unbounded`` finds those places;
``answer_chars`` is the longest compact JSON the schema allows, from which the
executor derives each call's ``max_tokens``.
"""

from __future__ import annotations

import json
import math
from typing import Any

# Stand-ins for what a schema leaves open, so a cap can still be derived (characters, items).
OPEN_STRING_CHARS = 1000
OPEN_ARRAY_ITEMS = 10
NUMBER_CHARS = 24  # "-1234567.890123e+12" and a little more
# Tokens per character, worst case for the answers we ask for: English JSON is ~3.5
# characters a token, Danish or German ~3, accented and escaped text less. Text in
# scripts that take a token per character (CJK) needs a max_tokens override.
CHARS_PER_TOKEN = 2.0
TOKEN_MARGIN = 1.1  # rounding, and the tokenizer's bad days
WHITESPACE_TOKENS = 2  # a newline and up to 20 spaces of indentation: one or two tokens
MIN_MAX_TOKENS = 64
_MAX_DEPTH = 32


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        return merged
    return schema


def _branches(schema: dict[str, Any]) -> list[dict[str, Any]]:
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list):
            return [b for b in schema[key] if isinstance(b, dict)]
    return []


def _types(schema: dict[str, Any]) -> list[str]:
    kind = schema.get("type")
    if isinstance(kind, list):
        return [str(k) for k in kind]
    if isinstance(kind, str):
        return [kind]
    if "properties" in schema:
        return ["object"]
    if "items" in schema or "prefixItems" in schema:
        return ["array"]
    return []


def unbounded(schema: dict[str, Any]) -> list[str]:
    """Paths (``properties.risks.items.title``) of strings without ``maxLength`` and arrays without
    ``maxItems``; an empty list means every answer to the schema is finite."""
    found: list[str] = []

    def visit(node: Any, path: str, depth: int) -> None:
        if not isinstance(node, dict) or depth > _MAX_DEPTH:
            return
        node = _resolve(node, schema)
        for i, branch in enumerate(_branches(node)):
            visit(branch, f"{path}.anyOf[{i}]", depth + 1)
        if "enum" in node or "const" in node:
            return
        kinds = _types(node)
        if "string" in kinds and "maxLength" not in node:
            found.append(path or "(root)")
        if "array" in kinds:
            if "maxItems" not in node:
                found.append(path or "(root)")
            visit(node.get("items"), f"{path}.items", depth + 1)
        for key, sub in (node.get("properties") or {}).items():
            visit(sub, f"{path}.{key}" if path else key, depth + 1)

    visit(schema, "", 0)
    return found


def _size(schema: dict[str, Any]) -> tuple[int, int]:
    """(characters, places where a grammar allows whitespace) of the longest compact answer."""

    def size(node: Any, depth: int) -> tuple[int, int]:
        if not isinstance(node, dict) or depth > _MAX_DEPTH:
            return OPEN_STRING_CHARS, 0
        node = _resolve(node, schema)
        branches = _branches(node)
        if branches:
            return max(size(b, depth + 1) for b in branches)
        if "const" in node:
            return len(json.dumps(node["const"], ensure_ascii=False)), 0
        if isinstance(node.get("enum"), list) and node["enum"]:
            return max(len(json.dumps(v, ensure_ascii=False)) for v in node["enum"]), 0
        best = (4, 0)  # null
        for kind in _types(node) or ["string"]:
            if kind == "string":
                best = max(best, (int(node.get("maxLength", OPEN_STRING_CHARS)) + 2, 0))
            elif kind in ("number", "integer"):
                best = max(best, (NUMBER_CHARS, 0))
            elif kind == "boolean":
                best = max(best, (5, 0))
            elif kind == "array":
                items = int(node.get("maxItems", OPEN_ARRAY_ITEMS))
                chars, slots = size(node.get("items", {}), depth + 1)
                best = max(best, (2 + items * (chars + 1), 1 + items * (slots + 1)))
            elif kind == "object":
                props = node.get("properties") or {}
                chars, slots = 2, 1
                for key, sub in props.items():
                    sub_chars, sub_slots = size(sub, depth + 1)
                    chars += len(key) + 4 + sub_chars
                    slots += sub_slots + 3  # before the key, after the colon, after the value
                best = max(best, (chars, slots))
        return best

    return size(schema, 0)


def answer_chars(schema: dict[str, Any]) -> int:
    """The longest compact JSON text valid against ``schema``, in characters (escapes aside)."""
    return _size(schema)[0]


def max_answer_tokens(schema: dict[str, Any]) -> int:
    """A ``max_tokens`` no valid answer to ``schema`` can reach, yet far below a context window.

    Grammars let a model put a newline and indentation between any two JSON tokens (small models
    pretty-print), so each such place counts ``WHITESPACE_TOKENS`` on top of the characters.
    """
    chars, slots = _size(schema)
    tokens = chars / CHARS_PER_TOKEN + slots * WHITESPACE_TOKENS
    return max(MIN_MAX_TOKENS, math.ceil(tokens * TOKEN_MARGIN))
