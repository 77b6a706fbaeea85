"""How the stand-ins for a model (the offline generator, ``planexe llm-server``) answer the safety gate.

Both stand-ins fill a schema from a template, picking enum values at random; asked
the safety gate's question that way they would refuse about half of all plans. So
they answer that one schema by rule: the plan goes ahead, unless they are told to
refuse it, by the server's ``refuse_plans`` option or by ``REFUSE_MARKER`` anywhere
in the request. An ordinary prompt never contains the marker, so no test or
benchmark is refused by chance, and a test can still have one plan refused among
others by the same server.

The gate's output model (``planexe/plan/safety.py``) is named ``SAFETY_SCHEMA`` and has
the fields set here; a test there keeps the two in step.
"""

from __future__ import annotations

from typing import Any

SAFETY_SCHEMA = "SafetyVerdict"  # the title of the gate's JSON schema
REFUSE_MARKER = "[planexe:refuse]"  # in a request: the stand-ins refuse it

_ALLOW_REASON = {
    "offline": "The offline template generator does not judge requests, so this one goes ahead.",
    "server": "The test LLM server lets every plan through unless it is told to refuse.",
}
_REFUSE_REASON = {
    "offline": f"The request carries the test marker {REFUSE_MARKER}, so the offline generator refuses it.",
    "server": "The test LLM server was told to refuse this plan (refuse_plans, or the marker in the prompt).",
}
_REFUSAL_MESSAGE = (
    "PlanExe will not plan this request. This refusal was staged by a test stand-in, not judged by a model."
)
_ACCEPTED_MESSAGE = "The request was accepted for planning."


def is_safety_gate(schema: dict[str, Any] | None) -> bool:
    """True for the JSON schema of the safety gate's question."""
    return isinstance(schema, dict) and schema.get("title") == SAFETY_SCHEMA


def wants_refusal(text: str) -> bool:
    return REFUSE_MARKER in text


def gate_answer(value: dict[str, Any], *, refuse: bool, who: str) -> dict[str, Any]:
    """``value`` (a synthesized answer to the gate's schema) with the decision set by rule.

    ``who`` is ``offline`` or ``server``: the reason says which stand-in decided, so a
    report never passes a template's verdict off as a model's judgement.
    """
    if refuse:
        fields = {
            "reason": _REFUSE_REASON[who],
            "category": "other_harm",
            "decision": "refuse",
            "message": _REFUSAL_MESSAGE,
        }
    else:
        fields = {
            "reason": _ALLOW_REASON[who],
            "category": "none",
            "decision": "plan",
            "message": _ACCEPTED_MESSAGE,
        }
    return {**value, **fields}
