"""PostgreSQL stopped and started while plans run: every process survives, every plan completes once."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import llm_env
from scalehelpers import LEASE_S, Census, check_runs_do_not_interleave

from planexe.testing.llm_server import LLMServer

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PG_CTLCLUSTER = shutil.which("pg_ctlcluster")
PG_VERSIONS = sorted(os.listdir("/etc/postgresql")) if Path("/etc/postgresql").is_dir() else []
PLANS = 4
TERMINAL = ("completed", "failed", "cancelled")


def pg_cluster(action: str) -> None:
    # --skip-systemctl-redirect: there is no systemd here; pg_ctlcluster's start waits until it accepts connections.
    subprocess.run(
        [PG_CTLCLUSTER or "pg_ctlcluster", "--skip-systemctl-redirect", PG_VERSIONS[-1], "main", action],
        check=True,
        capture_output=True,
        timeout=60,
    )


@pytest.mark.skipif(PG_CTLCLUSTER is None or not PG_VERSIONS, reason="needs a local pg_ctlcluster-managed server")
def test_database_restart_while_plans_run(make_cluster, llm: LLMServer) -> None:
    llm.configure(latency="fixed:0.1")
    cluster = make_cluster("dbrestart", **llm_env(llm))
    api = cluster.api()
    workers = [cluster.worker(f"w{i}", PLANEXE_MAX_CONCURRENT_PLANS="2") for i in range(2)]
    cluster.wait_workers(*workers)
    ids = [api.submit(prompt=f"Plan {i}: a ferry line between two islands")["id"] for i in range(PLANS)]
    for plan_id in ids:
        cluster.wait_plan(plan_id, lambda p: p.progress_done >= 3 or p.status in TERMINAL, timeout=90)
    assert [cluster.plan(i).status for i in ids] == ["running"] * PLANS

    with Census(cluster.root) as census:
        pg_cluster("stop")
        try:
            # Longer than a lease: every lease runs out while the database is away.
            time.sleep(LEASE_S + 1)
            assert api.http.get("/readyz").status_code == 503
        finally:
            pg_cluster("start")
        restarted_at = time.monotonic()
        plans = [cluster.wait_plan(i, lambda p: p.status in TERMINAL, timeout=180) for i in ids]
    print(f"\ndatabase restart: all {PLANS} plans finished {time.monotonic() - restarted_at:.1f}s after the restart")

    assert [p.status for p in plans] == ["completed"] * PLANS, [(p.id, p.error_code, p.error_message) for p in plans]
    for service in (api, *workers):
        assert service.process.poll() is None, f"{service.name} died:\n{service.log_tail()}"  # type: ignore[union-attr]
    assert api.http.get("/readyz").status_code == 200
    assert len(api.http.get("/plans").json()["items"]) == PLANS
    assert census.overlaps == [], f"a plan ran twice at once: {census.overlaps[:3]}"
    for plan in plans:
        events = cluster.events(plan.id)
        check_runs_do_not_interleave(plan.id, events)
        kinds = [e["kind"] for e in events]
        assert kinds.count("plan_finished") == 1
        # Live runners renew after the outage before anyone sweeps: nothing is taken over.
        assert "plan_recovered" not in kinds and plan.fencing_token == 1, kinds
