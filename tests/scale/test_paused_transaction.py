"""A runner paused inside a transaction cannot keep its plan: the server ends the idle session."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest

from planexe_api.db import repo_leases, repo_plans
from planexe_api.db.engine import (
    PG_IDLE_IN_TRANSACTION_TIMEOUT_S,
    make_engine,
    make_session_factory,
    transaction,
)
from planexe_api.db.models import utcnow

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

# A runner's fenced write, frozen between its UPDATE (the plan row is now locked) and its COMMIT.
HOLDER = r"""
import sys, time
from planexe_api.db import repo_leases
from planexe_api.db.engine import make_engine, make_session_factory, transaction
url, plan_id, token = sys.argv[1], sys.argv[2], int(sys.argv[3])
with transaction(make_session_factory(make_engine(url)), write=True) as session:
    assert repo_leases.hold_fence(session, plan_id=plan_id, token=token)
    print("locked", flush=True)
    time.sleep(3600)
"""


def test_a_runner_paused_mid_transaction_loses_its_locks_and_the_plan(pg_url: str) -> None:
    engine = make_engine(pg_url)
    factory = make_session_factory(engine)
    with transaction(factory, write=True) as session:
        plan_id = repo_plans.create_plan(session, prompt="A lighthouse museum").id
    with transaction(factory, write=True) as session:
        claimed = repo_leases.claim_next(session, worker_id="paused", lease_s=1, now=utcnow())
        assert claimed is not None and claimed.id == plan_id
        token = claimed.fencing_token
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, pg_url, plan_id, str(token)],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"locked"
        holder.send_signal(signal.SIGSTOP)
        paused_at = time.monotonic()
        later = utcnow() + timedelta(seconds=5)  # the lease has long run out
        while True:
            with transaction(factory, write=True) as session:
                actions = repo_leases.recover_expired(session, now=later, max_age_s=3600, max_attempts=3)
            if actions:
                break
            assert time.monotonic() - paused_at < PG_IDLE_IN_TRANSACTION_TIMEOUT_S + 5, (
                "the plan stayed locked"
            )
            time.sleep(0.2)
        freed_s = time.monotonic() - paused_at
        print(f"\npaused lock holder: plan recovered after {freed_s:.1f}s")
        # Until the server ended the frozen session, recovery passed over the locked row.
        assert freed_s >= PG_IDLE_IN_TRANSACTION_TIMEOUT_S - 1
        assert [(a.plan_id, a.outcome) for a in actions] == [(plan_id, repo_leases.RecoveryOutcome.REQUEUED)]
        with transaction(factory, write=True) as session:
            again = repo_leases.claim_next(session, worker_id="other", lease_s=30, now=utcnow())
            assert again is not None and again.fencing_token == token + 1
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
        engine.dispose()
