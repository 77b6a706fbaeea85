"""Start-up recovery: leases of this host's dead runners are released at once, nothing else.

Real processes for the pids (one that has exited, one that is alive), the real
store on SQLite and PostgreSQL; milliseconds, no service started.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from types import SimpleNamespace

import anyio
from sqlalchemy import select

from planexe_api.db import repo_leases, repo_plans, repo_workers
from planexe_api.db.models import Plan, PlanEvent, Worker, utcnow
from planexe_api.services.recovery import recover_on_startup
from planexe_api.services.store import Store

SETTINGS = SimpleNamespace(recovery_max_age_s=3600.0, max_attempts=3)
LEASE_S = 3600.0  # far from expiring: only a dead runner's lease may be released


def _exited_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _runner_with_a_plan(store: Store, worker_id: str, pid: int, prompt: str) -> str:
    def setup(session):
        now = utcnow()
        repo_workers.register_worker(
            session, worker_id=worker_id, host=socket.gethostname(), pid=pid, role="worker", now=now
        )
        plan_id = repo_plans.create_plan(session, prompt=prompt, now=now).id
        claimed = repo_leases.claim_next(session, worker_id=worker_id, lease_s=LEASE_S, now=now)
        assert claimed is not None and claimed.id == plan_id
        return plan_id

    return anyio.run(lambda: store.run(setup, write=True))


def test_only_the_dead_runners_plans_go_back_to_the_queue(store: Store) -> None:
    dead_plan = _runner_with_a_plan(store, "dead", _exited_pid(), "Open a bakery")
    live_plan = _runner_with_a_plan(store, "alive", os.getppid(), "Open a bike shop")
    own_plan = _runner_with_a_plan(store, "me", os.getpid(), "Open a cafe")

    anyio.run(lambda: recover_on_startup(store, SETTINGS, "me"))  # type: ignore[arg-type]

    def read(session):
        plans = {p.id: p for p in session.scalars(select(Plan))}
        workers = {w.id: w for w in session.scalars(select(Worker))}
        kinds = [e.kind for e in session.scalars(select(PlanEvent).where(PlanEvent.plan_id == dead_plan))]
        return plans, workers, kinds

    plans, workers, kinds = anyio.run(lambda: store.run(read))
    assert plans[dead_plan].status == "queued" and plans[dead_plan].lease_owner is None
    assert "plan_recovered" in kinds
    assert workers["dead"].stopped_at is not None
    for plan_id, owner in ((live_plan, "alive"), (own_plan, "me")):
        assert plans[plan_id].status == "running" and plans[plan_id].lease_owner == owner
        assert workers[owner].stopped_at is None
