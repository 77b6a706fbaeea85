"""Claims, leases, fencing and recovery on SQLite and PostgreSQL, including real concurrency."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from dbhelpers import LEASE_S, T0, Store, at
from sqlalchemy import select

from planexe_api.db.errors import DuplicateIdempotencyKey
from planexe_api.db.models import Plan, PlanEvent, PlanStatus
from planexe_api.db.repo_events import append_events, events_after
from planexe_api.db.repo_files import FileUpload, list_files, upsert_files
from planexe_api.db.repo_leases import (
    RecoveryOutcome,
    claim_next,
    finish_plan,
    recover_expired,
    release_worker_leases,
    renew_lease,
    requeue_plan,
    update_progress,
)
from planexe_api.db.repo_plans import create_plan, find_by_idempotency_key, request_cancel
from planexe_api.db.repo_usage import UsageDelta, add_usage, usage_for_plan

THREADS = 8


def run_together(count: int, work: Any) -> list[Any]:
    """Run ``work(i)`` in ``count`` threads released at the same moment."""
    barrier = threading.Barrier(count)

    def start(i: int) -> Any:
        barrier.wait()
        return work(i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(start, range(count)))


class TestClaim:
    def test_claim_sets_the_lease(self, store: Store) -> None:
        plan_id = store.add_plan()
        plan = store.claim("w1", now=at(10))
        assert plan is not None and plan.id == plan_id
        assert (plan.status, plan.lease_owner, plan.attempt, plan.fencing_token) == ("running", "w1", 1, 1)
        assert plan.lease_expires_at == at(10 + LEASE_S) and plan.started_at == at(10)
        assert store.get(plan_id).fencing_token == 1
        assert store.claim("w2") is None

    def test_order_is_priority_then_oldest(self, store: Store) -> None:
        old = store.add_plan(now=at(0))
        new = store.add_plan(now=at(5))
        urgent = store.add_plan(now=at(9), priority=5)
        claimed = [store.claim() for _ in range(3)]
        assert [p.id for p in claimed if p] == [urgent, old, new]

    def test_every_plan_is_claimed_exactly_once_under_concurrency(self, store: Store) -> None:
        plan_ids = {store.add_plan(now=at(i)) for i in range(24)}

        def claimer(i: int) -> list[str]:
            mine = []
            while (plan := store.claim(f"w{i}")) is not None:
                assert plan.fencing_token == 1
                mine.append(plan.id)
            return mine

        claimed = [pid for mine in run_together(THREADS, claimer) for pid in mine]
        assert Counter(claimed).most_common(1)[0][1] == 1
        assert set(claimed) == plan_ids
        with store.read() as session:
            statuses = session.scalars(select(Plan.status)).all()
        assert set(statuses) == {"running"}

    def test_a_claim_in_flight_is_skipped_not_shared(self, db_url: str, store: Store) -> None:
        first, second = store.add_plan(now=at(0)), store.add_plan(now=at(1))
        pool = ThreadPoolExecutor(max_workers=1)
        try:
            with store.write() as session:
                mine = claim_next(session, worker_id="A", lease_s=LEASE_S, now=T0)
                theirs = pool.submit(store.claim, "B")
                if db_url.startswith("postgresql"):
                    # SKIP LOCKED: B passes over A's locked row at once, A's transaction still open.
                    assert theirs.result(timeout=5) is not None
                else:
                    # BEGIN IMMEDIATE: B waits for A's write lock (busy_timeout) instead of reading stale rows.
                    time.sleep(0.3)
                    assert not theirs.done()
            other = theirs.result(timeout=15)
        finally:
            pool.shutdown()
        assert mine is not None and other is not None
        assert (mine.id, other.id) == (first, second)

    def test_concurrent_creates_with_one_idempotency_key_make_one_plan(self, store: Store) -> None:
        def create(i: int) -> str:
            try:
                with store.write() as session:
                    return create_plan(session, prompt=f"p{i}", idempotency_key="same").id
            except DuplicateIdempotencyKey:
                with store.read() as session:
                    existing = find_by_idempotency_key(session, "same")
                    assert existing is not None
                    return "dup:" + existing.id

        results = run_together(THREADS, create)
        created = [r for r in results if not r.startswith("dup:")]
        assert len(created) == 1
        assert {r.removeprefix("dup:") for r in results} == set(created)


class TestLease:
    def test_renew_extends_and_reports_cancel(self, store: Store) -> None:
        plan_id = store.add_plan()
        plan = store.claim("w1")
        assert plan is not None
        with store.write() as session:
            state = renew_lease(
                session, plan_id=plan_id, worker_id="w1", token=1, lease_s=LEASE_S, now=at(20)
            )
        assert state.held and not state.cancel_requested
        assert store.get(plan_id).lease_expires_at == at(20 + LEASE_S)
        with store.write() as session:
            request_cancel(session, plan_id)
        with store.write() as session:
            state = renew_lease(
                session, plan_id=plan_id, worker_id="w1", token=1, lease_s=LEASE_S, now=at(25)
            )
            assert state.held and state.cancel_requested
            wrong = renew_lease(
                session, plan_id=plan_id, worker_id="w2", token=1, lease_s=LEASE_S, now=at(25)
            )
            assert not wrong.held

    def test_an_expired_lease_nobody_took_is_renewed(self, store: Store) -> None:
        plan_id = store.add_plan()
        store.claim("w1")
        with store.write() as session:
            state = renew_lease(
                session, plan_id=plan_id, worker_id="w1", token=1, lease_s=LEASE_S, now=at(300)
            )
        assert state.held

    def test_finish_releases_the_lease_once(self, store: Store) -> None:
        plan_id = store.add_plan()
        store.claim("w1")
        with store.write() as session:
            with pytest.raises(ValueError, match="needs a final status"):
                finish_plan(session, plan_id=plan_id, token=1, status="queued", now=at(50))
            assert update_progress(
                session, plan_id=plan_id, token=1, done=3, total=9, running_tasks=["A", "B"]
            )
            assert finish_plan(session, plan_id=plan_id, token=1, status="completed", now=at(60))
            assert not finish_plan(session, plan_id=plan_id, token=1, status="failed", now=at(61))
        plan = store.get(plan_id)
        assert (plan.status, plan.lease_owner, plan.lease_expires_at, plan.finished_at) == (
            "completed",
            None,
            None,
            at(60),
        )
        assert (plan.progress_done, plan.progress_total, plan.running_tasks) == (3, 9, [])

    def test_requeue_keeps_attempt_and_frees_the_plan(self, store: Store) -> None:
        plan_id = store.add_plan()
        store.claim("w1")
        with store.write() as session:
            assert requeue_plan(session, plan_id=plan_id, token=1, reason="shutdown", now=at(40))
        plan = store.get(plan_id)
        assert (plan.status, plan.attempt, plan.lease_owner, plan.lease_expires_at) == (
            "queued",
            1,
            None,
            None,
        )
        again = store.claim("w2", now=at(41))
        assert again is not None and (again.attempt, again.fencing_token, again.started_at) == (2, 2, T0)
        with store.read() as session:
            assert [(e.kind, e.data) for e in events_after(session, plan_id)] == [
                ("plan_requeued", {"reason": "shutdown"})
            ]

    def test_requeue_with_cancel_pending_cancels(self, store: Store) -> None:
        plan_id = store.add_plan()
        store.claim("w1")
        with store.write() as session:
            request_cancel(session, plan_id)
        with store.write() as session:
            assert requeue_plan(session, plan_id=plan_id, token=1, reason="shutdown")
        assert store.get(plan_id).status == PlanStatus.CANCELLED


class TestFencing:
    def _snapshot(self, store: Store, plan_id: str) -> tuple[Any, ...]:
        with store.read() as session:
            plan = session.get(Plan, plan_id, populate_existing=True)
            assert plan is not None
            files = [(f.name, f.sha256) for f in list_files(session, plan_id)]
            usage = [(u.model, u.calls) for u in usage_for_plan(session, plan_id)]
            events = session.scalars(select(PlanEvent.seq).where(PlanEvent.plan_id == plan_id)).all()
            columns = {c.key: getattr(plan, c.key) for c in Plan.__mapper__.column_attrs}
        return columns, files, usage, events

    def _stale_writes(self, store: Store, plan_id: str, token: int) -> list[object]:
        with store.write() as session:
            return [
                renew_lease(
                    session, plan_id=plan_id, worker_id="A", token=token, lease_s=LEASE_S, now=at(100)
                ).held,
                update_progress(session, plan_id=plan_id, token=token, done=5, total=5, running_tasks=["X"]),
                append_events(session, plan_id=plan_id, token=token, events=[{"kind": "stale"}]),
                upsert_files(
                    session, plan_id=plan_id, token=token, files=[FileUpload.of("stale.txt", "T", b"old")]
                ),
                add_usage(session, plan_id=plan_id, token=token, usage={"m": UsageDelta(calls=7)}),
                requeue_plan(session, plan_id=plan_id, token=token, reason="stale"),
                finish_plan(session, plan_id=plan_id, token=token, status="completed", now=at(100)),
            ]

    def test_old_token_changes_nothing_after_a_reclaim(self, store: Store) -> None:
        plan_id = store.add_plan()
        old = store.claim("A")
        assert old is not None
        with store.write() as session:
            release_worker_leases(session, worker_id="A", now=at(60))
            recover_expired(session, now=at(60), max_age_s=3600, max_attempts=3)
        new = store.claim("B", now=at(61))
        assert new is not None and new.fencing_token == old.fencing_token + 1
        before = self._snapshot(store, plan_id)
        assert self._stale_writes(store, plan_id, old.fencing_token) == [
            False,
            False,
            None,
            False,
            False,
            False,
            False,
        ]
        assert self._snapshot(store, plan_id) == before
        with store.write() as session:
            assert append_events(
                session, plan_id=plan_id, token=new.fencing_token, events=[{"kind": "ok"}]
            ) == [2]

    def test_old_token_is_refused_once_recovery_requeued_the_plan(self, store: Store) -> None:
        plan_id = store.add_plan()
        store.claim("A")
        with store.write() as session:
            recover_expired(session, now=at(LEASE_S), max_age_s=3600, max_attempts=3)
        before = self._snapshot(store, plan_id)
        assert self._stale_writes(store, plan_id, 1) == [False, False, None, False, False, False, False]
        assert self._snapshot(store, plan_id) == before


class TestRecovery:
    def test_the_outcomes(self, store: Store) -> None:
        young = store.add_plan(now=at(0))
        old = store.add_plan(now=at(-3 * 3600))
        tired = store.add_plan(now=at(1))
        cancelled = store.add_plan(now=at(2))
        alive = store.add_plan(now=at(3))
        with store.write() as session:
            for plan_id, attempt in ((young, 0), (old, 0), (tired, 2), (cancelled, 0), (alive, 0)):
                plan = session.get(Plan, plan_id)
                assert plan is not None
                plan.attempt = attempt
        for worker in ("w-old", "w-young", "w-tired", "w-cancelled"):  # oldest first
            store.claim(worker, now=at(0))
        store.claim("w-alive", now=at(60))
        with store.write() as session:
            request_cancel(session, cancelled)
        with store.write() as session:
            actions = recover_expired(session, now=at(LEASE_S + 1), max_age_s=2 * 3600, max_attempts=3)
        outcomes = {a.plan_id: (a.outcome, a.attempt, a.previous_owner) for a in actions}
        assert outcomes == {
            old: (RecoveryOutcome.FAILED_TOO_OLD, 1, "w-old"),
            young: (RecoveryOutcome.REQUEUED, 1, "w-young"),
            tired: (RecoveryOutcome.FAILED_MAX_ATTEMPTS, 3, "w-tired"),
            cancelled: (RecoveryOutcome.CANCELLED, 1, "w-cancelled"),
        }
        old_plan, tired_plan = store.get(old), store.get(tired)
        assert (old_plan.status, old_plan.error_code) == ("failed", "recovery_too_old")
        assert "3 h 0 min ago" in (old_plan.error_message or "") and "Resume it" in (
            old_plan.error_message or ""
        )
        assert (tired_plan.status, tired_plan.error_code) == ("failed", "max_attempts")
        assert "attempt 3 of 3" in (tired_plan.error_message or "")
        requeued = store.get(young)
        assert (requeued.status, requeued.lease_owner, requeued.attempt) == ("queued", None, 1)
        assert store.get(cancelled).status == PlanStatus.CANCELLED
        assert store.get(alive).status == PlanStatus.RUNNING
        with store.read() as session:
            assert [e.data["outcome"] for e in events_after(session, young)] == ["requeued"]

    def test_released_leases_are_recovered_without_waiting(self, store: Store) -> None:
        plan_id = store.add_plan()
        store.claim("dead", now=at(0))
        with store.write() as session:
            assert recover_expired(session, now=at(1), max_age_s=3600, max_attempts=3) == []
            assert release_worker_leases(session, worker_id="dead", now=at(1)) == [plan_id]
            assert [
                a.plan_id for a in recover_expired(session, now=at(1), max_age_s=3600, max_attempts=3)
            ] == [plan_id]

    def test_running_without_owner_is_recovered(self, store: Store) -> None:
        plan_id = store.add_plan()
        store.claim("w1", now=at(0))
        with store.write() as session:
            plan = session.get(Plan, plan_id)
            assert plan is not None
            plan.lease_owner = None
        with store.write() as session:
            actions = recover_expired(session, now=at(1), max_age_s=3600, max_attempts=3)
        assert [(a.plan_id, a.outcome) for a in actions] == [(plan_id, RecoveryOutcome.REQUEUED)]


class TestEventSequence:
    def test_concurrent_appends_stay_contiguous(self, store: Store) -> None:
        plan_id = store.add_plan()
        store.claim("w1")
        batches = 6

        def appender(i: int) -> list[int]:
            seqs: list[int] = []
            for b in range(batches):
                with store.write() as session:
                    events = [{"kind": "e", "thread": i, "n": n} for n in range(1 + (i + b) % 3)]
                    got = append_events(session, plan_id=plan_id, token=1, events=events)
                    assert got is not None
                    seqs.extend(got)
            return seqs

        per_thread = run_together(THREADS, appender)
        total = sum(1 + (i + b) % 3 for i in range(THREADS) for b in range(batches))
        all_seqs = sorted(s for seqs in per_thread for s in seqs)
        assert all_seqs == list(range(1, total + 1))
        with store.read() as session:
            stored = session.scalars(
                select(PlanEvent.seq).where(PlanEvent.plan_id == plan_id).order_by(PlanEvent.seq)
            ).all()
        assert list(stored) == all_seqs
        assert store.get(plan_id).last_event_seq == total


def test_claim_inside_the_callers_transaction_is_rolled_back_with_it(store: Store) -> None:
    plan_id = store.add_plan()
    with pytest.raises(RuntimeError), store.write() as session:
        assert claim_next(session, worker_id="w1", lease_s=LEASE_S, now=T0) is not None
        raise RuntimeError("the runner failed before committing its claim")
    assert store.get(plan_id).status == PlanStatus.QUEUED
