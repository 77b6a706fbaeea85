"""Deterministic instances of a JSON schema, with readable text taken from a prompt.

``synthesize(schema, seed=..., context=prompt)`` returns a value the schema accepts,
so a structured-output request can be answered without a model (the test LLM server
does this). The same inputs give the same value in any process: randomness comes from
a ``random.Random`` seeded with a sha256 digest, never from ``hash()``, and no set is
iterated. Strings come from ``planexe.llm.synth_strings``.

Covers what pydantic v2 emits: local ``$ref``/``$defs`` (a recursive ref is unrolled
twice, then only required fields and minimal arrays are produced), ``allOf``,
``anyOf`` (its first non-null branch), ``oneOf`` (any non-null branch), ``enum``, ``const``, ``type``
(a list of types, or none: it is guessed from the other keywords), ``properties``
(all of them are filled), ``required``, ``additionalProperties``, ``min/maxProperties``,
``prefixItems``/``items`` with ``minItems``/``maxItems``/``uniqueItems``, string length,
``format`` and simple ``pattern``, and numeric bounds with ``multipleOf``.

Limits: ``not``, ``if``/``then``/``else``, ``contains``, ``patternProperties``,
``propertyNames`` and ``dependentRequired`` are ignored; a ``oneOf`` branch is not
checked against the other branches; only local ``$ref`` (``#/...``) is resolved.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import random
import re
from typing import Any

from planexe.llm.synth_strings import Strings, singular

_MAX_NODES = 5000  # values generated before switching to minimal output, so wide schemas stay small
_MAX_DEPTH = 64  # nesting levels before giving up: a recursive schema with no way out


def synthesize(schema: dict[str, Any], *, seed: str, context: str = "") -> Any:
    """A value valid against ``schema``; the same for the same (schema, seed, context)."""
    material = json.dumps([seed, context, schema], sort_keys=True, default=str)
    digest = hashlib.sha256(material.encode("utf-8")).digest()
    rng = random.Random(int.from_bytes(digest[:16], "big"))
    return _Synth(schema, rng, Strings(context, rng)).value(schema, "", 0, ())


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, val in extra.items():
        if key == "properties":
            out[key] = {**out.get(key, {}), **val}
        elif key == "required":
            out[key] = list(dict.fromkeys([*out.get(key, []), *val]))
        elif key != "$defs":
            out[key] = val
    return out


class _Synth:
    def __init__(self, root: dict[str, Any], rng: random.Random, strings: Strings) -> None:
        self.root = root
        self.rng = rng
        self.strings = strings
        self.nodes = 0

    def value(self, schema: Any, name: str, depth: int, refs: tuple[str, ...]) -> Any:
        if schema is False:
            return None
        if schema is True or not schema:
            return self._string({}, name)
        if depth > _MAX_DEPTH:
            raise ValueError(f"schema nests deeper than {_MAX_DEPTH} levels; a recursion with no base case?")
        self.nodes += 1
        schema, refs = self._resolve(schema, refs)
        # A $ref seen twice on the path means recursion: stop growing optional parts.
        minimal = self.nodes > _MAX_NODES or len(refs) != len(set(refs))
        if "const" in schema:
            return copy.deepcopy(schema["const"])
        if "enum" in schema:
            return copy.deepcopy(self.rng.choice(schema["enum"]))
        for key in ("anyOf", "oneOf"):
            if key in schema:
                rest = {k: v for k, v in schema.items() if k != key}
                branch = self._pick(schema[key], minimal, key == "oneOf")
                if isinstance(branch, dict):
                    branch, refs = self._resolve(branch, refs)
                    branch = _merge(rest, branch)
                return self.value(branch, name, depth + 1, refs)
        kind = self._type(schema, minimal)
        if kind == "object":
            return self._object(schema, depth, refs, minimal)
        if kind == "array":
            return self._array(schema, name, depth, refs, minimal)
        if kind in ("integer", "number"):
            return _number(schema, name, kind == "integer", self.rng)
        if kind == "boolean":
            return self.rng.random() < 0.5
        if kind == "null":
            return None
        return self._string(schema, name)

    def _resolve(
        self, schema: dict[str, Any], refs: tuple[str, ...]
    ) -> tuple[dict[str, Any], tuple[str, ...]]:
        local: list[str] = []
        while "$ref" in schema or "allOf" in schema:
            if "$ref" in schema:
                ref = schema["$ref"]
                if ref in local:
                    raise ValueError(f"$ref {ref} refers to itself with no schema in between")
                local.append(ref)
                refs = (*refs, ref)
                schema = _merge(self._lookup(ref), {k: v for k, v in schema.items() if k != "$ref"})
            else:
                merged = {k: v for k, v in schema.items() if k != "allOf"}
                for part in schema["allOf"]:
                    if isinstance(part, dict):
                        part, refs = self._resolve(part, refs)
                        merged = _merge(merged, part)
                schema = merged
        return schema, refs

    def _lookup(self, ref: str) -> dict[str, Any]:
        if not ref.startswith("#"):
            raise ValueError(f"only local $ref is supported, not {ref!r}")
        node: Any = self.root
        try:
            for part in ref[1:].split("/")[1:] if ref != "#" else []:
                node = node[part.replace("~1", "/").replace("~0", "~")]
        except (KeyError, TypeError) as exc:
            raise ValueError(f"$ref {ref} points at nothing") from exc
        return node if isinstance(node, dict) else {}

    def _pick(self, branches: list[Any], minimal: bool, vary: bool) -> Any:
        nulls = [b for b in branches if isinstance(b, dict) and b.get("type") == "null"]
        others = [b for b in branches if not (isinstance(b, dict) and b.get("type") == "null")]
        if minimal and nulls:
            return nulls[0]
        if minimal:
            plain = [b for b in others if not (isinstance(b, dict) and "$ref" in b)]
            return (plain or others)[0]
        # anyOf takes the first branch: pydantic lists the real type first (Decimal is number | string).
        # oneOf is how pydantic writes discriminated unions, where every branch is as good.
        return self.rng.choice(others or nulls) if vary else (others or nulls)[0]

    def _type(self, schema: dict[str, Any], minimal: bool) -> str:
        kind = schema.get("type")
        if isinstance(kind, list):
            if minimal and "null" in kind:
                return "null"
            return ([k for k in kind if k != "null"] or ["null"])[0]
        if kind:
            return str(kind)
        keys = set(schema)
        if keys & {"properties", "required", "additionalProperties", "minProperties", "maxProperties"}:
            return "object"
        if keys & {"items", "prefixItems", "minItems", "maxItems", "uniqueItems"}:
            return "array"
        if keys & {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}:
            return "number"
        return "string"

    def _object(
        self, schema: dict[str, Any], depth: int, refs: tuple[str, ...], minimal: bool
    ) -> dict[str, Any]:
        props: dict[str, Any] = schema.get("properties", {})
        required: list[str] = schema.get("required", [])
        extra = schema.get("additionalProperties", True)
        extra_schema = extra if isinstance(extra, dict) else {}
        out: dict[str, Any] = {}
        for key, sub in props.items():
            if not minimal or key in required:
                out[key] = self.value(sub, key, depth + 1, refs)
        for key in required:
            if key not in out:
                out[key] = self.value(extra_schema, key, depth + 1, refs)
        wanted = schema.get("minProperties", 0) - len(out)
        if not props and extra_schema and not minimal:
            wanted = max(wanted, self.rng.randint(1, 3))
        if extra is not False:
            for _ in range(max(wanted, 0)):
                key = self.strings.key()
                while key in out:
                    key += "_x"
                out[key] = self.value(extra_schema, key, depth + 1, refs)
        limit = schema.get("maxProperties")
        for key in [k for k in reversed(out) if k not in required]:
            if limit is None or len(out) <= limit:
                break
            del out[key]
        return out

    def _array(
        self, schema: dict[str, Any], name: str, depth: int, refs: tuple[str, ...], minimal: bool
    ) -> list[Any]:
        items = schema.get("items", {})
        prefix: list[Any] = schema.get("prefixItems", [])
        if isinstance(items, list):  # draft-7 tuple form
            prefix, items = items, schema.get("additionalItems", {})
        low, high = schema.get("minItems", 0), schema.get("maxItems")
        count = max(low, 0 if minimal else self.rng.randint(3, 5))
        if items is False:
            count = min(count, len(prefix))
        if high is not None:
            count = min(count, high)
        unique = bool(schema.get("uniqueItems"))
        item_name = singular(name)
        out: list[Any] = []
        seen: set[str] = set()
        for i in range(count):
            sub = prefix[i] if i < len(prefix) else items
            for attempt in range(25):
                val = self.value(sub, item_name, depth + 1, refs)
                canon = json.dumps(val, sort_keys=True)
                # Lists of strings read badly with repeats, so they retry even without uniqueItems.
                if canon not in seen or not (unique or isinstance(val, str)):
                    break
                if attempt == 24 and isinstance(val, str) and unique:
                    val = f"{val} {i + 1}"
                    canon = json.dumps(val)
            if unique and canon in seen:
                break
            seen.add(canon)
            out.append(val)
        return out

    def _string(self, schema: dict[str, Any], name: str) -> str:
        return self.strings.string(schema, name)


_NUMERIC_HINTS: list[tuple[str, tuple[int, int]]] = [
    ("year", (2025, 2030)),
    ("percent", (5, 95)),
    ("probability", (0, 1)),
    ("score", (1, 10)),
    ("cost|budget|price|amount|revenue|salary|fund", (1000, 250000)),
    ("day|week|month|duration|hour", (1, 30)),
    ("count|number|quantity|size|total", (1, 50)),
]


def _default_range(name: str) -> tuple[int, int]:
    for words, span in _NUMERIC_HINTS:
        if re.search(words, name.lower()):
            return span
    return (1, 100)


def _is_multiple(value: float, step: float) -> bool:
    # Mirrors how jsonschema checks multipleOf, float quotient included.
    if isinstance(step, float):
        quotient = value / step
        return math.isfinite(quotient) and int(quotient) == quotient
    return value % step == 0


def _number(schema: dict[str, Any], name: str, integer: bool, rng: random.Random) -> int | float:
    lo, hi = schema.get("minimum"), schema.get("maximum")
    xlo, xhi = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if isinstance(xlo, bool):  # draft-4 form: a flag on minimum
        lo, xlo = (None, lo) if xlo else (lo, None)
    if isinstance(xhi, bool):
        hi, xhi = (None, hi) if xhi else (hi, None)
    step = schema.get("multipleOf")

    def ok(v: float) -> bool:
        return (
            (lo is None or v >= lo)
            and (hi is None or v <= hi)
            and (xlo is None or v > xlo)
            and (xhi is None or v < xhi)
            and (step is None or _is_multiple(v, step))
        )

    floor = max((float(b) for b in (lo, xlo) if b is not None), default=None)
    ceil = min((float(b) for b in (hi, xhi) if b is not None), default=None)
    # The property name's usual range, moved inside the bounds.
    a, b = (float(x) for x in _default_range(name))
    span = b - a
    a, b = (a if floor is None else max(a, floor)), (b if ceil is None else min(b, ceil))
    if a >= b:  # the usual range misses the bounds, or leaves one point that may be excluded
        if floor is not None and ceil is not None:
            a, b = floor, ceil
        elif floor is not None:
            a, b = floor, floor + span
        elif ceil is not None:
            a, b = ceil - span, ceil
    candidates: list[float] = []
    if step:
        k_lo, k_hi = math.ceil(a / step), math.floor(b / step)
        ks = [rng.randint(k_lo, k_hi) for _ in range(8)] if k_lo <= k_hi else []
        ks += [k_lo, k_hi, k_lo + 1, k_hi - 1]
        for k in ks:
            candidates += [k * step, round(k * step, 10), float(k * step)]
    elif integer:
        candidates += [
            rng.randint(math.ceil(a), math.floor(b)) if math.ceil(a) <= math.floor(b) else math.ceil(a)
        ]
        candidates += [math.ceil(a) + d for d in (0, 1)] + [math.floor(b) - d for d in (0, 1)]
    else:
        candidates += [round(rng.uniform(a, b), 2), round(rng.uniform(a, b), 4), (a + b) / 2]
        candidates += [(a + 3 * b) / 4, (3 * a + b) / 4]
    for cand in candidates:
        if integer and float(cand).is_integer() and ok(int(cand)):
            return int(cand)
        if not integer and ok(cand):
            return cand
    return int(a) if integer else a
