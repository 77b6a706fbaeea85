"""The database away and back while plans run: every process survives, every plan completes once."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
from outage import DatabaseOutage
from scalehelpers import (
    LEASE_S,
    Census,
    Cluster,
    alive,
    check_runs_do_not_interleave,
    llm_env,
    pid,
    pipeline_processes,
    roots,
    signal_group,
    wait_gone,
)

from planexe.plan.dag import ALL_TASKS
from planexe.testing.llm_server import LLMServer

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PLANS = 4
TERMINAL = ("completed", "failed", "cancelled")


@pytest.fixture
def pg_server(pg_url: str, postgres_admin: Any) -> Iterator[DatabaseOutage]:
    """The test database's outage. Stopping the server itself would stop every other database on
    it too, and other test runs share this machine's server; clients see the same either way."""
    outage = DatabaseOutage(postgres_admin, pg_url)
    yield outage
    outage.end()  # whatever happened in the test, the database accepts connections again


# Per LLM call: a fast plan then takes ~4 s (12 rounds), so the first worker's plans are still
# running when the database stops, and end during the outage; offline plans (under a second)
# could end before it.
LLM_LATENCY = "fixed:0.3"


def test_database_restart_while_plans_run(make_cluster, pg_server: DatabaseOutage, llm: LLMServer) -> None:
    llm.configure(latency=LLM_LATENCY)
    try:
        _restart_while_plans_run(make_cluster("dbrestart", **llm_env(llm)), pg_server)
    finally:
        llm.configure(latency="fixed:0")


def _restart_while_plans_run(cluster: Cluster, pg_server: DatabaseOutage) -> None:
    # Four plans, two per worker. The first worker's plans end while the database is away: their
    # last events and final status wait for it. The second worker's pipelines are held (SIGSTOP)
    # through the outage, so that whatever the machine's speed they run on after it is back.
    ending = cluster.worker("ending", PLANEXE_MAX_CONCURRENT_PLANS="2")
    held = cluster.worker("held", PLANEXE_MAX_CONCURRENT_PLANS="2")
    workers = [ending, held]
    api = cluster.api()
    worker_ids = cluster.wait_workers(*workers)
    ids = [api.submit(prompt=f"Plan {i}: a ferry line between two islands")["id"] for i in range(PLANS)]
    for plan_id in ids:
        cluster.wait_plan(plan_id, lambda p: p.progress_done >= 2 or p.status in TERMINAL, timeout=90)
    owner = {i: cluster.plan(i).lease_owner for i in ids}
    assert sorted(owner.values()) == sorted(2 * list(worker_ids.values())), owner
    held_groups = [c.pid for c in roots(pipeline_processes(cluster.runs_dir(held)))]
    assert len(held_groups) == 2

    with Census(cluster.root) as census:
        for group in held_groups:
            signal_group(group, signal.SIGSTOP)
        stopping_at = time.time()
        pg_server.begin()
        try:
            # At least a lease, so every lease runs out before the database answers again.
            time.sleep(LEASE_S)
            assert api.http.get("/readyz").status_code == 503
            assert wait_gone(cluster.runs_dir(ending), timeout=60)[1] == []
        finally:
            starting_at = time.time()
            pg_server.end()
            for group in held_groups:
                signal_group(group, signal.SIGCONT)
        back_at = time.time()
        plans = [cluster.wait_plan(i, lambda p: p.status in TERMINAL, timeout=120) for i in ids]
    ended = {p.id: next(e["ts"] for e in cluster.events(p.id) if e["kind"] == "run_finished") for p in plans}
    during = [i for i in ids if stopping_at < ended[i] < starting_at]
    after = [i for i in ids if ended[i] > back_at]
    print(
        f"\ndatabase restart: down {back_at - stopping_at:.1f}s, {len(during)} plans ended while it was down, "
        f"{len(after)} after; all finished {max(ended.values()) - back_at:.1f}s after the restart"
    )

    assert [p.status for p in plans] == ["completed"] * PLANS, [
        (p.id, p.error_code, p.error_message) for p in plans
    ]
    ending_id = worker_ids[pid(ending)]
    assert sorted(during) == sorted(i for i in ids if owner[i] == ending_id), (during, after)
    assert sorted(after) == sorted(i for i in ids if owner[i] != ending_id), (during, after)
    for service in (api, *workers):
        assert alive(service), f"{service.name} died:\n{service.log_tail()}"
    assert api.http.get("/readyz").status_code == 200
    assert len(api.http.get("/plans").json()["items"]) == PLANS
    assert census.overlaps == [], f"a plan ran twice at once: {census.overlaps[:3]}"
    for plan in plans:
        events = cluster.events(plan.id)
        check_runs_do_not_interleave(plan.id, events)
        kinds = [e["kind"] for e in events]
        assert kinds.count("plan_finished") == 1 and kinds.count("run_started") == 1
        assert sum(k == "task_succeeded" for k in kinds) == len(ALL_TASKS)
        # Live runners renew after the outage before anyone sweeps: nothing is taken over.
        assert "plan_recovered" not in kinds and plan.fencing_token == 1, kinds
