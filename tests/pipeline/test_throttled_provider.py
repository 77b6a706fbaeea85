"""A provider that refuses past a few calls in flight slows a plan down and never fails it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from planexe.pipeline.exitcodes import ExitCode
from planexe.pipeline.rundir import REPORT_FILE
from planexe.plan import dag
from planexe.testing.llm_server import llm_server
from planexe.testing.pipeline import events, make_run_dir, run_to_end


def llm_env(base_url: str, **extra: str) -> dict[str, str]:
    return {"PLANEXE_LLM_BASE_URL": base_url, "PLANEXE_LLM_MODEL": "planexe-test", **extra}


def refusals_by_half(evs: list[dict[str, Any]]) -> tuple[int, int]:
    calls = [e for e in evs if e["kind"] == "llm_call"]
    half = len(calls) // 2
    return tuple(
        sum(1 for e in part if e["outcome"] == "rate_limited") for part in (calls[:half], calls[half:])
    )  # type: ignore[return-value]


def test_a_full_plan_completes_against_a_provider_that_takes_two_calls_at_once(tmp_path: Path) -> None:
    with llm_server(latency="fixed:0.02", max_concurrency=2) as server:
        run_dir = make_run_dir(tmp_path, detail="full")
        assert run_to_end(run_dir, env=llm_env(server.base_url), timeout=120) == ExitCode.SUCCESS
        stats = server.stats()
    assert (run_dir / REPORT_FILE).exists()
    assert stats["max_in_flight"] == 2
    # Every call answered once: no plan-level retry was needed.
    assert stats["completions_ok"] == dag.planned_calls("full")
    first, second = refusals_by_half(events(run_dir))
    assert first + second == stats["rejected_concurrency"]
    # A few refusals while the limit is learnt, then rare: probes at ever longer intervals.
    assert stats["rejected_concurrency"] <= 15, stats
    assert second <= 3, (first, second)
