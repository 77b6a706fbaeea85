"""Every schema a step sends is bounded and strict-mode ready, the ones built at run time included.

The schemas are taken from a real run (offline, full detail), so a step that narrows a
field to an enum of ids, or asks with a new model, is checked as it is really sent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import luigi
import pytest
from pydantic import BaseModel

from planexe.llm.executor import schema_of
from planexe.llm.schema_bounds import max_answer_tokens, unbounded
from planexe.llm.strict import to_strict, violations
from planexe.pipeline.context import open_context
from planexe.pipeline.exitcodes import ExitCode
from planexe.pipeline.luigi_worker import WorkerFactory
from planexe.pipeline.rundir import PlanSpec, write_plan
from planexe.plan import dag
from planexe.testing.llm_server import llm_server
from planexe.testing.pipeline import events, make_run_dir, run_to_end

PROMPT = "Open a small bakery in Copenhagen"


@pytest.fixture(scope="module")
def sent_schemas(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Task name -> {schema name: schema} of every call a full offline plan makes."""
    run_dir = tmp_path_factory.mktemp("bounds")
    write_plan(run_dir, PlanSpec(prompt=PROMPT, detail="full"))
    ctx = open_context(run_dir)
    seen: dict[str, dict[str, Any]] = {}
    real = ctx.executor.structured

    async def recording(
        messages: list[dict[str, str]], output_type: type[BaseModel], *, step: str = ""
    ) -> Any:
        seen.setdefault(step.split(":")[0], {})[output_type.__name__] = schema_of(output_type)
        return await real(messages, output_type, step=step)

    ctx.executor.structured = recording  # type: ignore[method-assign]
    # Steps as threads of this process (a worker timeout would otherwise make Luigi fork each one).
    factory = WorkerFactory(isolation="thread")
    assert luigi.build(
        [dag.final_task(str(run_dir))],
        worker_scheduler_factory=factory,
        local_scheduler=True,
        workers=1,
        log_level="WARNING",
    )
    return seen


def test_every_llm_step_was_seen(sent_schemas: dict[str, dict[str, Any]]) -> None:
    llm_steps = {t.step_name() for t in dag.ALL_TASKS if not t.code_only()}
    assert set(sent_schemas) == llm_steps


def test_every_string_has_a_max_length_and_every_array_max_items(
    sent_schemas: dict[str, dict[str, Any]],
) -> None:
    loose = {
        f"{task}.{name}": unbounded(schema)
        for task, schemas in sent_schemas.items()
        for name, schema in schemas.items()
        if unbounded(schema)
    }
    assert loose == {}


def test_every_schema_passes_the_strict_check_in_strict_form(sent_schemas: dict[str, dict[str, Any]]) -> None:
    problems = {
        f"{task}.{name}": violations(to_strict(schema), name)
        for task, schemas in sent_schemas.items()
        for name, schema in schemas.items()
    }
    assert {k: v for k, v in problems.items() if v} == {}


def test_strict_form_keeps_the_bounds_as_words(sent_schemas: dict[str, dict[str, Any]]) -> None:
    strict = json.dumps(to_strict(sent_schemas["identify_purpose"]["PurposeOutput"]))
    assert "maxLength" not in strict and "(at most 80 characters)" in strict


def test_each_answer_cap_is_far_below_a_small_context(sent_schemas: dict[str, dict[str, Any]]) -> None:
    caps = {name: max_answer_tokens(s) for schemas in sent_schemas.values() for name, s in schemas.items()}
    assert max(caps.values()) <= 10_000, caps  # the largest (the risk list) is ~8,600


@pytest.mark.slow
def test_a_plan_sends_every_schema_strict_and_the_strict_server_accepts_them(tmp_path: Path) -> None:
    config = tmp_path / "models.json"
    with llm_server(seed=4, strict_schemas=True) as server:
        model = {
            "name": "strict", "provider": "openai", "model": "gpt-4o-mini", "base_url": server.base_url,
            "strict": True, "timeout_s": 5,
        }  # fmt: skip
        config.write_text(json.dumps({"models": [model]}))
        run_dir = make_run_dir(tmp_path, detail="fast")
        env = {"PLANEXE_LLM_CONFIG": str(config), "PLANEXE_LLM_RETRY_BASE_DELAY_S": "0.01"}
        assert run_to_end(run_dir, env=env) == ExitCode.SUCCESS
        stats = server.stats()
    calls = [e for e in events(run_dir) if e["kind"] == "llm_call"]
    assert {e["outcome"] for e in calls} == {"ok"}
    assert len(calls) == dag.planned_calls("fast")
    assert (stats["strict_requests"], stats["rejected_strict"]) == (len(calls), 0)


def test_text_over_its_bound_is_clipped_at_a_word_not_rejected() -> None:
    from planexe.plan.risks import Risk

    long_title = "Landlord refuses the change of use for the shop unit on Jægersborggade " * 3
    risk = Risk.model_validate(
        {
            "title": long_title, "category": "regulatory", "description": "d", "likelihood": "low",
            "impact": "high", "early_warning_sign": "w", "mitigation": "m", "owner_role": "o",
        }
    )  # fmt: skip
    assert len(risk.title) <= 80 and risk.title.endswith("…")
    assert long_title.startswith(risk.title.removesuffix("…"))
    assert not risk.title.removesuffix("…").endswith(" ")
