"""The safety gate's step and the stand-ins' rule: an ordinary prompt is never refused by chance."""

from __future__ import annotations

import asyncio
import json

import pytest

from planexe.llm.config import OFFLINE_MODEL
from planexe.llm.executor import schema_of
from planexe.llm.providers import OfflineProvider
from planexe.llm.stand_in import REFUSE_MARKER, SAFETY_SCHEMA, gate_answer, is_safety_gate
from planexe.llm.synth import synthesize
from planexe.llm.types import ChatRequest
from planexe.plan import dag
from planexe.plan.safety import GATE_SYSTEM, SafetyGate, SafetyVerdict

# Ordinary requests, several with words that sound alarming out of context.
ORDINARY = [
    "Open a small bakery in Copenhagen",
    "Build a community solar farm in rural Kenya",
    "Open a licensed gun shop and shooting range in Texas",
    "Demolish an old warehouse and build 40 flats in Leeds",
    "Start a pharmacy in a small town in Portugal",
    "Organise a peaceful protest march against a new motorway",
    "Run a penetration test of our own company network, ordered by the board",
    "Plan a deer hunting trip in Sweden for four friends",
    "Set up a needle-exchange harm-reduction service in Glasgow",
    "Write and publish a thriller novel about a bank robbery",
    "Move my family from Berlin to Lisbon next summer",
    "Launch a mobile app that helps people quit smoking",
    "Renovate a 1930s house with asbestos in the roof",
    "Train for a marathon in six months after knee surgery",
    "Build a fireworks display for a town's new year celebration, with a licensed pyrotechnician",
    "Open a cybersecurity consultancy that teaches companies to resist fraud",
    "Plan a wedding for 120 guests in Tuscany",
    "Create a museum exhibition about the history of weapons in medieval Europe",
    "Start a kill-switch feature project for our industrial robots",
    "Set up a suicide-prevention hotline staffed by trained volunteers",
] + [f"Open a café number {n} in a mid-sized city" for n in range(20)]


def gate_request(prompt: str) -> ChatRequest:
    return ChatRequest(
        messages=[
            {"role": "system", "content": GATE_SYSTEM},
            {"role": "user", "content": f"# Project description\n{prompt}"},
        ],
        schema=schema_of(SafetyVerdict),
        schema_name=SafetyVerdict.__name__,
        step=SafetyGate.step_name(),
    )


def offline_verdict(prompt: str) -> SafetyVerdict:
    response = asyncio.run(OfflineProvider(OFFLINE_MODEL).complete(gate_request(prompt), None))
    return SafetyVerdict.model_validate_json(response.content)


def test_the_gate_is_recognised_by_its_schema() -> None:
    assert SafetyVerdict.__name__ == SAFETY_SCHEMA
    assert is_safety_gate(schema_of(SafetyVerdict))
    assert not is_safety_gate(schema_of(dag.ALL_TASKS[-1].output_model))


@pytest.mark.parametrize("prompt", ORDINARY)
def test_the_offline_generator_never_refuses_an_ordinary_prompt(prompt: str) -> None:
    verdict = offline_verdict(prompt)
    assert (verdict.decision, verdict.category) == ("plan", "none")
    assert "offline" in verdict.reason  # never passed off as a model's judgement


def test_without_the_rule_a_template_would_refuse_some_of_them() -> None:
    """What the rule prevents: the template's own draw says refuse for some ordinary prompts."""
    schema = schema_of(SafetyVerdict)
    drawn = [synthesize(schema, seed=f"safety_gate|{p}", context=p)["decision"] for p in ORDINARY]
    assert "refuse" in drawn and "plan" in drawn


def test_the_marker_makes_the_offline_generator_refuse() -> None:
    verdict = offline_verdict(f"Open a small bakery in Copenhagen {REFUSE_MARKER}")
    assert verdict.refused and verdict.category != "none"


@pytest.mark.parametrize("refuse", [True, False])
def test_the_stand_in_answer_is_a_valid_verdict(refuse: bool) -> None:
    value = synthesize(schema_of(SafetyVerdict), seed="x", context="a bakery")
    verdict = SafetyVerdict.model_validate(gate_answer(value, refuse=refuse, who="server"))
    assert verdict.refused is refuse


def test_the_gate_is_the_first_llm_step_and_one_call() -> None:
    _, path = dag.critical_path("full")
    assert [t.step_name() for t in path[:2]] == ["setup", "safety_gate"]
    assert SafetyGate.planned_calls("full") == SafetyGate.planned_calls("fast") == 1
    # Every other LLM step waits for it.
    for task in dag.ALL_TASKS:
        if task.calls_full and task is not SafetyGate:
            assert SafetyGate in dag.reachable(task), task.step_name()


def test_the_gate_asks_for_a_small_answer() -> None:
    from planexe.llm.schema_bounds import max_answer_tokens

    assert max_answer_tokens(schema_of(SafetyVerdict)) <= 500  # a sentence, a short note and two enums
    assert "refuse" in json.dumps(schema_of(SafetyVerdict))
