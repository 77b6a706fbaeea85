"""OpenAI's strict structured output: the schema form it accepts, and the check it applies.

With ``"strict": true`` OpenAI guarantees a schema-valid answer, but accepts only a
subset of JSON Schema: every object has ``additionalProperties: false`` and lists
every property in ``required``; a ``$ref`` stands alone; only the keywords in
``ALLOWED`` appear; the root is an object. ``to_strict`` turns a pydantic schema into
that form, moving what strict mode cannot enforce (``maxLength``, ``default``, ...)
into the description, where the model still reads it. ``violations`` is the check,
with OpenAI's wording, used by ``planexe llm-server --strict-schemas`` and the tests.
"""

from __future__ import annotations

import copy
import json
from typing import Any

ALLOWED = frozenset(
    {
        # any schema
        "type", "description", "title", "enum", "const", "anyOf", "$ref", "$defs", "definitions",
        # objects
        "properties", "required", "additionalProperties",
        # arrays
        "items", "minItems", "maxItems",
        # strings
        "pattern", "format",
        # numbers
        "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum",
    }
)  # fmt: skip
FORMATS = frozenset({"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"})
MAX_NESTING = 10  # object levels
MAX_PROPERTIES = 5000  # across the whole schema
_CONTAINERS = ("properties", "$defs", "definitions")


def _words(key: str, value: Any) -> str:
    """A keyword strict mode does not take, said in words for the description."""
    if key == "maxLength":
        return f"at most {value} characters"
    if key == "minLength":
        return f"at least {value} characters"
    if key == "default":
        return f"default {json.dumps(value, ensure_ascii=False)}"
    if key == "uniqueItems" and value:
        return "no repeated items"
    if key == "format":
        return f"format {value}"
    return f"{key} {json.dumps(value, ensure_ascii=False)}"


def _resolve(ref: str, root: dict[str, Any]) -> dict[str, Any]:
    target: Any = root
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return dict(target)


def to_strict(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` (not changed) in the form strict mode accepts, meaning kept as far as it can be."""
    root = copy.deepcopy(schema)

    def fix(node: dict[str, Any], depth: int) -> dict[str, Any]:
        if depth > 64:
            raise ValueError("schema nesting is too deep (a recursive $ref?)")
        ref = node.get("$ref")
        if isinstance(ref, str) and len(node) > 1:
            # A $ref must stand alone: inline the definition under the node's own keywords.
            node = {**_resolve(ref, root), **{k: v for k, v in node.items() if k != "$ref"}}
        notes: list[str] = []
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "format" and value in FORMATS:
                out[key] = value
            elif key not in ALLOWED or key == "format":
                notes.append(_words(key, value))
            else:
                out[key] = value
        for key in _CONTAINERS:
            if isinstance(out.get(key), dict):
                out[key] = {k: fix(v, depth + 1) for k, v in out[key].items() if isinstance(v, dict)}
        if isinstance(out.get("items"), dict):
            out["items"] = fix(out["items"], depth + 1)
        if isinstance(out.get("anyOf"), list):
            out["anyOf"] = [fix(b, depth + 1) for b in out["anyOf"] if isinstance(b, dict)]
        if out.get("type") == "object" or "properties" in out:
            out.setdefault("type", "object")
            out["properties"] = out.get("properties", {})
            out["required"] = list(out["properties"])
            out["additionalProperties"] = False
        if notes:
            text = str(out.get("description", "")).rstrip()
            joined = "; ".join(notes)
            out["description"] = f"{text} ({joined})" if text else joined.capitalize() + "."
        return out

    return fix(root, 0)


def violations(schema: Any, name: str = "schema") -> list[str]:
    """Why OpenAI's strict mode would refuse ``schema``, in its words; empty if it would accept it."""
    prefix = f"Invalid schema for response_format '{name}': "
    if not isinstance(schema, dict) or schema.get("type") != "object" or "anyOf" in schema:
        kind = schema.get("type") if isinstance(schema, dict) else type(schema).__name__
        return [f"{prefix}schema must be a JSON Schema of 'type: \"object\"', got 'type: \"{kind}\"'."]
    found: list[str] = []
    counted = {"properties": 0}

    def check(node: Any, path: tuple[str, ...], depth: int) -> None:
        if not isinstance(node, dict):
            found.append(f"{prefix}In context={path!r}, schema must be an object.")
            return
        where = f"In context={path!r}, "
        for key in node:
            if key not in ALLOWED:
                found.append(f"{prefix}{where}'{key}' is not permitted.")
        if node.get("format") is not None and node["format"] not in FORMATS:
            found.append(f"{prefix}{where}format '{node['format']}' is not permitted.")
        if "$ref" in node and len(node) > 1:
            others = ", ".join(sorted(k for k in node if k != "$ref"))
            found.append(f"{prefix}{where}'$ref' cannot be combined with other keywords ({others}).")
        is_object = node.get("type") == "object" or "properties" in node
        if is_object:
            if depth > MAX_NESTING:
                found.append(f"{prefix}{where}nesting depth exceeds the limit of {MAX_NESTING}.")
            if node.get("additionalProperties") is not False:
                found.append(
                    f"{prefix}{where}'additionalProperties' is required to be supplied and to be false."
                )
            props = node.get("properties") or {}
            counted["properties"] += len(props)
            required = node.get("required")
            missing = [k for k in props if not isinstance(required, list) or k not in required]
            if missing:
                found.append(
                    f"{prefix}{where}'required' is required to be supplied and to be an array including "
                    f"every key in properties. Missing '{missing[0]}'."
                )
            for key, sub in props.items():
                check(sub, (*path, "properties", key), depth + 1)
        for container in ("$defs", "definitions"):
            for key, sub in (node.get(container) or {}).items():
                check(sub, (*path, container, key), depth)
        if isinstance(node.get("items"), dict):
            check(node["items"], (*path, "items"), depth)
        for i, branch in enumerate(node.get("anyOf") or []):
            check(branch, (*path, "anyOf", str(i)), depth)

    check(schema, (), 1)
    if counted["properties"] > MAX_PROPERTIES:
        found.append(f"{prefix}the schema has more than {MAX_PROPERTIES} object properties.")
    return found
