"""PostgreSQL stopped and started while plans run: every process survives, every plan completes once."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest
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
from sqlalchemy import make_url

from planexe.plan.dag import ALL_TASKS
from planexe.testing.llm_server import LLMServer

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PLANS = 4
TERMINAL = ("completed", "failed", "cancelled")


def local_cluster(url: str) -> tuple[str, str] | None:
    """(version, name) of the pg_ctlcluster-managed server behind ``url``, if it runs on this machine."""
    target = make_url(url)
    if shutil.which("pg_lsclusters") is None or target.host not in ("127.0.0.1", "localhost"):
        return None
    listing = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, check=False).stdout
    for line in listing.splitlines():
        version, name, port, status, *_ = line.split()
        if int(port) == (target.port or 5432) and status == "online":
            return version, name
    return None


def pg_ctlcluster(cluster: tuple[str, str], action: str) -> None:
    # --skip-systemctl-redirect: no systemd here. "stop" is a fast shutdown (sessions are ended);
    # "start" returns once the server accepts connections.
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", *cluster, action],
        check=True,
        capture_output=True,
        timeout=60,
    )


@pytest.fixture
def pg_server(pg_url: str) -> Iterator[tuple[str, str]]:
    cluster = local_cluster(pg_url)
    if cluster is None:
        pytest.skip("needs the PostgreSQL server to be a local pg_ctlcluster-managed cluster")
    yield cluster
    # Whatever happened in the test, leave the server running for everyone else.
    if local_cluster(pg_url) is None:
        pg_ctlcluster(cluster, "start")


# Per LLM call: a fast plan then takes ~4 s (12 rounds), so the first worker's plans are still
# running when the database stops, and end during the outage; offline plans (under a second)
# could end before it.
LLM_LATENCY = "fixed:0.3"


def test_database_restart_while_plans_run(make_cluster, pg_server: tuple[str, str], llm: LLMServer) -> None:
    llm.configure(latency=LLM_LATENCY)
    try:
        _restart_while_plans_run(make_cluster("dbrestart", **llm_env(llm)), pg_server)
    finally:
        llm.configure(latency="fixed:0")


def _restart_while_plans_run(cluster: Cluster, pg_server: tuple[str, str]) -> None:
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
        pg_ctlcluster(pg_server, "stop")
        try:
            # At least a lease, so every lease runs out before the database answers again.
            time.sleep(LEASE_S)
            assert api.http.get("/readyz").status_code == 503
            assert wait_gone(cluster.runs_dir(ending), timeout=60)[1] == []
        finally:
            starting_at = time.time()
            pg_ctlcluster(pg_server, "start")
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
