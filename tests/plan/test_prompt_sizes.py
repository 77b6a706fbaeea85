"""Prompt sizes: the table stays true, and a context window too small is refused before a plan runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from planexe.errors import LLMConfigError
from planexe.llm.config import ModelSpec
from planexe.llm.local_server import DEFAULT_CTX
from planexe.llm.sizing import estimate_tokens
from planexe.pipeline.exitcodes import ExitCode
from planexe.plan.prompt_sizes import (
    LARGEST_PROMPT_TOKENS,
    REFERENCE_PROMPT,
    check_windows,
    measure,
    required_window,
)
from planexe.testing.pipeline import events, make_run_dir, run_to_end


@pytest.mark.parametrize("detail", ["fast", "full"])
def test_the_largest_prompt_table_matches_an_offline_plan(detail: str) -> None:
    sizes = measure(detail)  # type: ignore[arg-type]
    largest = max(sizes.values()) - estimate_tokens(REFERENCE_PROMPT)
    # Grown past the table: raise it (and check planexe local-llm's defaults still fit).
    # Shrunk well below: lower it, so small windows are not refused for nothing.
    assert 0.9 * LARGEST_PROMPT_TOKENS[detail] <= largest <= LARGEST_PROMPT_TOKENS[detail], sizes


def test_every_late_step_quotes_digests_not_whole_sections() -> None:
    sizes = measure("full")
    # The closing steps quote the plan digest and the review, the largest outputs of a plan.
    for step in ("executive_summary", "review_plan", "premortem", "pitch", "questions_and_answers"):
        assert sizes[step] < LARGEST_PROMPT_TOKENS["full"], (step, sizes[step])


def test_local_llm_defaults_fit_the_largest_prompt_in_every_slot() -> None:
    assert required_window("full", REFERENCE_PROMPT) <= DEFAULT_CTX


def model(window: int | None) -> ModelSpec:
    return ModelSpec(name="small", provider="llamacpp", model="m", context_window=window)


def test_a_window_too_small_is_refused_with_the_sizes_and_the_fix() -> None:
    need = required_window("fast", "")
    check_windows([model(None), model(need)], "fast")  # unknown and big enough pass
    with pytest.raises(LLMConfigError) as err:
        check_windows([model(2048)], "fast")
    message = str(err.value)
    assert message.startswith("LLM config error in small.context_window: 2,048 tokens is too small")
    assert f"{need:,}" in message and "--ctx" in message and "num_ctx" in message


def test_a_long_description_needs_a_larger_window() -> None:
    short, long = required_window("fast", "x" * 100), required_window("fast", "Bäckerei " * 800)
    assert long - short == estimate_tokens("Bäckerei " * 800) - estimate_tokens("x" * 100)


def test_the_pipeline_refuses_a_small_window_before_any_step(tmp_path: Path) -> None:
    config = tmp_path / "models.json"
    spec = {"name": "tiny", "provider": "llamacpp", "model": "m", "context_window": 2048}
    config.write_text(json.dumps({"models": [spec]}))
    run_dir = make_run_dir(tmp_path)
    assert run_to_end(run_dir, env={"PLANEXE_LLM_CONFIG": str(config)}) == ExitCode.CONFIG_ERROR
    assert not any(e["kind"] == "task_started" for e in events(run_dir))
    log = (run_dir / "log.txt").read_text()
    assert "tiny.context_window: 2,048 tokens is too small" in log
