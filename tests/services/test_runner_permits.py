"""Plans of one runner share a provider's limits through the runner's permit broker."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from planexe.pipeline.events import iter_events
from planexe.pipeline.rundir import EVENTS_FILE
from planexe.plan import dag
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
    # Every call answered once, none left for a retry of a step.
    assert stats["completions_ok"] == 6 * dag.planned_calls("fast")
    calls = calls_in_time_order(svc, ids)
    refused = [e["outcome"] == "rate_limited" for e in calls]
    assert sum(refused) == stats["rejected_concurrency"]
    # One limit learnt for the six plans together: a few refusals at the start, then rare.
    assert sum(refused) <= 30, stats
    assert sum(refused[len(refused) // 2 :]) <= 6, sum(refused)  # of about 200


def refusal_gaps(service: Service, plan_ids: list[str]) -> tuple[list[dict[str, Any]], list[float]]:
    refusals = [e for e in calls_in_time_order(service, plan_ids) if e["outcome"] == "rate_limited"]
    return refusals, [b["ts"] - a["ts"] for a, b in itertools.pairwise(refusals)]


def test_a_429_storm_slows_every_plan_down_and_they_recover(make_service) -> None:
    with llm_server(latency="fixed:0.05") as server:
        svc = make_service(
            PLANEXE_MAX_CONCURRENT_PLANS="2",
            PLANEXE_LLM_BASE_URL=server.base_url,
            PLANEXE_LLM_MODEL="planexe-test",
        )
        ids = [svc.submit(prompt=f"Plan {i}: a bike shop in town {i}")["id"] for i in range(2)]
        for plan_id in ids:
            svc.wait_progress(plan_id, 3)
        server.configure(rate_429=1.0)  # every request refused, with a Retry-After of 0.05 s
        # The storm lasts until the refusals of both plans together come one at a time, each
        # after the shared cool-down: three gaps in a row of 0.2 s or more. With a cool-down per
        # plan, or only the Retry-After, two plans would keep calling twenty times a second.
        deadline = time.monotonic() + 60
        while not (len(gaps := refusal_gaps(svc, ids)[1]) >= 3 and min(gaps[-3:]) >= 0.2):
            assert time.monotonic() < deadline, f"the refusals never slowed down: {gaps[-10:]}"
            time.sleep(0.05)
        server.configure(rate_429=0.0)
        server.reset_stats()
        plans = [svc.wait_status(i, timeout=120) for i in ids]
        after = server.stats()
    assert [p["status"] for p in plans] == ["completed"] * 2, [p.get("error") for p in plans]
    _, gaps = refusal_gaps(svc, ids)
    assert gaps[-1] > gaps[-3]  # the cool-down grows with every refusal in a row
    # After the storm the calls in flight grow back.
    assert after["max_in_flight"] >= 3, after
