"""A provider's limit holds across replicas, and a killed runner's share comes back within a lease."""

from __future__ import annotations

import time

from scalehelpers import kill9, pid
from sqlalchemy import select

from planexe.testing.llm_server import llm_server
from planexe_api.db.models import Plan

LIMIT = 3


def test_the_limit_holds_across_two_runners_and_a_killed_ones_share_returns(make_cluster) -> None:
    with llm_server(latency="fixed:0.02", max_concurrency=LIMIT) as server:
        env = {
            "PLANEXE_LLM_BASE_URL": server.base_url,
            "PLANEXE_LLM_MODEL": "planexe-test",
            "PLANEXE_LLM_MAX_IN_FLIGHT": str(LIMIT),
            "PLANEXE_MAX_CONCURRENT_PLANS": "2",
        }
        cluster = make_cluster(**env)
        api = cluster.api()
        first, second = cluster.worker("w1"), cluster.worker("w2")
        workers = cluster.wait_workers(first, second)
        ids = [api.submit(prompt=f"Plan {i}: a repair shop in town {i}")["id"] for i in range(4)]
        # Both runners busy: the shared limit holds with plans of both in flight.
        api.wait_status(ids[0], timeout=120)
        assert server.stats()["max_in_flight"] <= LIMIT
        first_id = workers[pid(first)]
        kill9(first)
        # Its plans come back to the queue once its leases run out, and its share of the limit
        # with them (the same lease): wait until the survivor holds every plan that is left.
        deadline = time.monotonic() + 60
        while cluster.read(
            lambda s: s.scalar(select(Plan.id).where(Plan.lease_owner == first_id, Plan.status == "running"))
        ):
            assert time.monotonic() < deadline, "the killed runner's plans were never taken over"
            time.sleep(0.1)
        # The taken-over plans may be nearly done; a fresh plan on the survivor alone makes
        # enough parallel calls to show whether the killed runner's share came back.
        server.reset_stats()
        ids.append(api.submit(prompt="Plan 4: a bike shop after the takeover")["id"])
        plans = [api.wait_status(i, timeout=180) for i in ids]
        stats = server.stats()
    assert [p["status"] for p in plans] == ["completed"] * 5, [p.get("error") for p in plans]
    assert stats["rejected_concurrency"] == 0 and stats["max_in_flight"] == LIMIT, stats
