"""Plans of one runner share a provider's limits through the runner's permit broker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from planexe.pipeline.events import iter_events
from planexe.pipeline.rundir import EVENTS_FILE
from planexe.testing.llm_server import llm_server
from planexe.testing.service import Service, service_env


@pytest.fixture
def make_service(tmp_path: Path) -> Iterator[Any]:
    started: list[Service] = []

    def factory(**extra: str) -> Service:
        url = f"sqlite:///{tmp_path / 'planexe.db'}"
        service = Service(service_env(url, tmp_path, extra), tmp_path).start()
        started.append(service)
        return service

    yield factory
    for service in started:
        service.close()


def calls_in_time_order(service: Service, plan_ids: list[str]) -> list[dict[str, Any]]:
    """Every plan's LLM attempts, from the run directories the service left."""
    runs = Path(service.env["PLANEXE_RUNS_DIR"])
    calls = [e for pid in plan_ids for e in iter_events(runs / pid / EVENTS_FILE) if e["kind"] == "llm_call"]
    return sorted(calls, key=lambda e: e["ts"])


def test_six_fast_plans_against_a_provider_that_takes_eight_at_once_all_complete(make_service) -> None:
    with llm_server(latency="fixed:0.05", max_concurrency=8) as server:
        svc = make_service(
            PLANEXE_MAX_CONCURRENT_PLANS="6",
            PLANEXE_LLM_BASE_URL=server.base_url,
            PLANEXE_LLM_MODEL="planexe-test",
        )
        ids = [svc.submit(prompt=f"Plan {i}: open a bakery in town {i}")["id"] for i in range(6)]
        plans = [svc.wait_status(i, timeout=180) for i in ids]
        stats = server.stats()
    assert [p["status"] for p in plans] == ["completed"] * 6, [p.get("error") for p in plans]
    assert stats["completions_ok"] == 6 * 66  # every call answered once, none left for a retry of a step
    calls = calls_in_time_order(svc, ids)
    refused = [e["outcome"] == "rate_limited" for e in calls]
    assert sum(refused) == stats["rejected_concurrency"]
    # One limit learnt for the six plans together: a few refusals at the start, then rare.
    assert sum(refused) <= 20, stats
    assert sum(refused[len(refused) // 2 :]) <= 4, sum(refused)
