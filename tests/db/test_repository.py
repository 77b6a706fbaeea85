"""Repository functions on SQLite and PostgreSQL: plans, events, files, usage, workers, transactions."""

from __future__ import annotations

import hashlib
from datetime import UTC
from pathlib import Path

import pytest
from dbhelpers import T0, Store, at
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import InvalidRequestError

from planexe_api.db import repo_files
from planexe_api.db.engine import make_engine, make_session_factory, transaction
from planexe_api.db.errors import (
    DuplicateIdempotencyKey,
    InvalidCursor,
    InvalidTransition,
    PlanNotFound,
    StoreUnavailable,
)
from planexe_api.db.models import LlmUsage, Plan, PlanEvent, PlanFile, PlanStatus
from planexe_api.db.repo_events import append_events, append_service_events, events_after
from planexe_api.db.repo_files import (
    FileUpload,
    all_file_contents,
    get_file,
    list_files,
    store_files,
    upsert_files,
)
from planexe_api.db.repo_leases import finish_plan, update_progress
from planexe_api.db.repo_plans import (
    count_by_status,
    create_plan,
    find_by_idempotency_key,
    list_plans,
    queue_depth,
    request_cancel,
    resume_plan,
)
from planexe_api.db.repo_usage import UsageDelta, add_usage, store_usage, usage_for_plan
from planexe_api.db.repo_workers import (
    dead_workers,
    heartbeat_worker,
    list_workers,
    mark_worker_stopped,
    register_worker,
)


class TestPlans:
    def test_create_and_read_back(self, store: Store) -> None:
        plan_id = store.add_plan(detail="fast", llm_model="m1", parameters={"lang": "da"}, priority=2)
        plan = store.get(plan_id)
        assert len(plan_id) == 32
        assert (plan.status, plan.detail, plan.llm_model, plan.parameters) == (
            "queued",
            "fast",
            "m1",
            {"lang": "da"},
        )
        assert (plan.priority, plan.attempt, plan.fencing_token, plan.last_event_seq) == (2, 0, 0, 0)
        assert plan.running_tasks == [] and plan.cancel_requested is False
        assert plan.created_at == T0 and plan.created_at.tzinfo is UTC
        assert plan.started_at is None and plan.lease_owner is None

    def test_idempotency_key_is_unique_and_transaction_survives(self, store: Store) -> None:
        first = store.add_plan(idempotency_key="k-1")
        with store.write() as session:
            with pytest.raises(DuplicateIdempotencyKey, match="k-1"):
                create_plan(session, prompt="again", idempotency_key="k-1")
            existing = find_by_idempotency_key(session, "k-1")
            assert existing is not None and existing.id == first
        with store.read() as session:
            assert session.scalar(select(func.count()).select_from(Plan)) == 1
            assert find_by_idempotency_key(session, "other") is None

    def test_plans_without_key_do_not_collide(self, store: Store) -> None:
        store.add_plan()
        store.add_plan()
        with store.read() as session:
            assert queue_depth(session) == 2

    def test_list_newest_first_in_pages(self, store: Store) -> None:
        ids = [store.add_plan(now=at(i)) for i in range(5)]
        with store.read() as session:
            page1 = list_plans(session, limit=2)
            assert [p.id for p in page1.plans] == [ids[4], ids[3]]
            assert page1.next_cursor is not None
            page2 = list_plans(session, limit=2, cursor=page1.next_cursor)
            assert [p.id for p in page2.plans] == [ids[2], ids[1]]
            page3 = list_plans(session, limit=2, cursor=page2.next_cursor)
            assert [p.id for p in page3.plans] == [ids[0]] and page3.next_cursor is None
            with pytest.raises(InvalidCursor):
                list_plans(session, cursor="not-a-cursor")

    def test_list_filters_by_status_and_counts(self, store: Store) -> None:
        queued = store.add_plan()
        cancelled = store.add_plan()
        with store.write() as session:
            request_cancel(session, cancelled, now=T0)
        with store.read() as session:
            assert [p.id for p in list_plans(session, status="cancelled").plans] == [cancelled]
            assert [p.id for p in list_plans(session, status=PlanStatus.QUEUED).plans] == [queued]
            counts = count_by_status(session)
        assert counts == {**dict.fromkeys(PlanStatus, 0), PlanStatus.QUEUED: 1, PlanStatus.CANCELLED: 1}


class TestCancelAndResume:
    def test_cancel_queued_is_immediate(self, store: Store) -> None:
        plan_id = store.add_plan()
        with store.write() as session:
            plan = request_cancel(session, plan_id, now=at(5))
            assert plan is not None and plan.status == PlanStatus.CANCELLED and plan.finished_at == at(5)
        with store.read() as session:
            assert [e.kind for e in events_after(session, plan_id)] == ["plan_cancelled"]

    def test_cancel_running_sets_the_flag_for_the_owner(self, store: Store) -> None:
        plan_id = store.add_plan()
        store.claim()
        with store.write() as session:
            plan = request_cancel(session, plan_id)
            assert plan is not None and plan.status == PlanStatus.RUNNING and plan.cancel_requested

    def test_cancel_finished_or_unknown(self, store: Store) -> None:
        plan_id = store.add_plan()
        claimed = store.claim()
        assert claimed is not None
        with store.write() as session:
            assert finish_plan(
                session, plan_id=plan_id, token=claimed.fencing_token, status="completed", now=at(9)
            )
        with store.write() as session:
            plan = request_cancel(session, plan_id)
            assert plan is not None and plan.status == PlanStatus.COMPLETED
            assert request_cancel(session, "0" * 32) is None

    def test_resume_failed_plan_clears_error_and_attempts(self, store: Store) -> None:
        plan_id = store.add_plan()
        claimed = store.claim()
        assert claimed is not None
        with store.write() as session:
            finish_plan(
                session, plan_id=plan_id, token=claimed.fencing_token, status="failed",
                error_code="task_failed", error_message="boom", failed_task="SwotTask", now=at(60),
            )  # fmt: skip
        with store.write() as session:
            plan = resume_plan(session, plan_id, now=at(120))
        assert plan.status == PlanStatus.QUEUED and plan.attempt == 0 and plan.fencing_token == 1
        assert (plan.error_code, plan.error_message, plan.failed_task) == (None, None, None)
        assert plan.queued_at == at(120) and plan.started_at is None and plan.finished_at is None
        again = store.claim(now=at(130))
        assert again is not None and (again.attempt, again.fencing_token) == (1, 2)

    def test_resume_refuses_running_and_completed(self, store: Store) -> None:
        plan_id = store.add_plan()
        store.claim()
        with store.write() as session, pytest.raises(InvalidTransition, match="running"):
            resume_plan(session, plan_id)
        with store.write() as session, pytest.raises(PlanNotFound):
            resume_plan(session, "0" * 32)

    def test_resume_queued_is_a_no_op(self, store: Store) -> None:
        plan_id = store.add_plan()
        with store.write() as session:
            assert resume_plan(session, plan_id).status == PlanStatus.QUEUED


class TestEvents:
    def test_append_numbers_from_one_and_round_trips(self, store: Store) -> None:
        plan_id = store.add_plan()
        claimed = store.claim()
        assert claimed is not None
        token = claimed.fencing_token
        with store.write() as session:
            assert append_events(session, plan_id=plan_id, token=token, events=[{"kind": "a", "x": 1}]) == [1]
            seqs = append_events(session, plan_id=plan_id, token=token, events=[{"kind": "b"}, {"kind": "c"}])
            assert seqs == [2, 3]
            assert append_events(session, plan_id=plan_id, token=token, events=[]) == []
        with store.read() as session:
            events = events_after(session, plan_id, after_seq=1, limit=10)
            assert [(e.seq, e.kind) for e in events] == [(2, "b"), (3, "c")]
            assert events_after(session, plan_id)[0].as_dict() == {"kind": "a", "x": 1}
            assert [e.seq for e in events_after(session, plan_id, after_seq=0, limit=2)] == [1, 2]
        assert store.get(plan_id).last_event_seq == 3

    def test_fenced_out_appends_nothing(self, store: Store) -> None:
        plan_id = store.add_plan()
        with store.write() as session:
            assert append_events(session, plan_id=plan_id, token=0, events=[{"kind": "a"}]) is None
            with pytest.raises(ValueError, match="kind"):
                append_events(session, plan_id=plan_id, token=0, events=[{"no": "kind"}])
            with pytest.raises(PlanNotFound):
                append_service_events(session, plan_id="0" * 32, events=[{"kind": "x"}])
        with store.read() as session:
            assert events_after(session, plan_id) == []


class TestFiles:
    def _claimed(self, store: Store) -> tuple[str, int]:
        plan_id = store.add_plan()
        claimed = store.claim()
        assert claimed is not None
        return plan_id, claimed.fencing_token

    def test_upsert_is_idempotent_and_replaces(self, store: Store) -> None:
        plan_id, token = self._claimed(store)
        for _ in range(2):
            with store.write() as session:
                assert upsert_files(
                    session, plan_id=plan_id, token=token, files=[FileUpload.of("001-plan.json", "T1", b"{}")]
                )
        with store.write() as session:
            assert upsert_files(
                session, plan_id=plan_id, token=token, files=[FileUpload.of("002-swot.md", "T2", b"# S")]
            )
        with store.read() as session:
            files = list_files(session, plan_id)
            assert [(f.name, f.task, f.size) for f in files] == [
                ("001-plan.json", "T1", 2),
                ("002-swot.md", "T2", 3),
            ]
            assert files[0].sha256 == hashlib.sha256(b"{}").hexdigest()
            with pytest.raises(InvalidRequestError):
                _ = files[0].content  # metadata only: the bytes are not loaded
        with store.write() as session:
            assert upsert_files(
                session, plan_id=plan_id, token=token, files=[FileUpload.of("001-plan.json", "T1", b"[1]")]
            )
        with store.read() as session:
            stored = get_file(session, plan_id, "001-plan.json")
            assert stored is not None and stored.content == b"[1]" and stored.size == 3
            assert stored.sha256 == hashlib.sha256(b"[1]").hexdigest()
            assert get_file(session, plan_id, "missing") is None
            assert session.scalar(select(func.count()).select_from(PlanFile)) == 2

    def test_many_files_in_one_batch_are_all_stored(
        self, store: Store, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(repo_files, "UPSERT_CHUNK", 7)  # several statements, the last one short
        plan_id, token = self._claimed(store)
        contents = {f"sub/{i:03}.txt": bytes([i]) * (i * 100) for i in range(40)}
        batch = [FileUpload.of(name, f"T{i}", content) for i, (name, content) in enumerate(contents.items())]
        with store.write() as session:
            assert upsert_files(session, plan_id=plan_id, token=token, files=batch, now=at(5))
        with store.read() as session:
            files = list_files(session, plan_id)
            assert [(f.name, f.task, f.size, f.sha256, f.created_at) for f in files] == [
                (u.name, u.task, len(u.content), u.sha256, at(5)) for u in batch
            ]
            assert dict(all_file_contents(session, plan_id)) == contents

    def test_a_name_twice_in_one_batch_keeps_the_last(self, store: Store) -> None:
        plan_id, token = self._claimed(store)
        batch = [FileUpload.of("a.md", "T1", b"first"), FileUpload.of("a.md", "T2", b"second")]
        with store.write() as session:
            assert upsert_files(session, plan_id=plan_id, token=token, files=batch)
        with store.read() as session:
            stored = get_file(session, plan_id, "a.md")
            assert stored is not None and (stored.task, stored.content) == ("T2", b"second")

    def test_unchanged_file_is_not_rewritten(self, store: Store) -> None:
        plan_id, token = self._claimed(store)
        with store.write() as session:
            assert upsert_files(
                session, plan_id=plan_id, token=token, files=[FileUpload.of("a.md", "T", b"same")]
            )
        # A row that the upsert's WHERE skips is left exactly as it was: tamper with the stored
        # bytes behind the digest's back, and an upsert with the same digest must not restore them.
        with store.write() as session:
            session.execute(update(PlanFile).values(content=b"marker"))
        with store.write() as session:
            assert upsert_files(
                session, plan_id=plan_id, token=token, files=[FileUpload.of("a.md", "T", b"same")]
            )
        with store.read() as session:
            stored = get_file(session, plan_id, "a.md")
            assert stored is not None and stored.content == b"marker"
        # Another task with the same bytes is a change (it says who wrote the file).
        with store.write() as session:
            assert upsert_files(
                session, plan_id=plan_id, token=token, files=[FileUpload.of("a.md", "T9", b"same")]
            )
        with store.read() as session:
            stored = get_file(session, plan_id, "a.md")
            assert stored is not None and (stored.task, stored.content) == ("T9", b"same")

    def test_restore_iterates_every_file(self, store: Store, tmp_path: Path) -> None:
        plan_id, token = self._claimed(store)
        contents = {f"sub/{i:03}.txt": bytes([i]) * (i * 1000) for i in range(40)}
        with store.write() as session:
            assert upsert_files(
                session,
                plan_id=plan_id,
                token=token,
                files=[FileUpload.of(name, "T", content) for name, content in contents.items()],
            )
        with store.read() as session:
            for name, content in all_file_contents(session, plan_id):
                target = tmp_path / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)
        assert {
            p.relative_to(tmp_path).as_posix(): p.read_bytes() for p in tmp_path.rglob("*.txt")
        } == contents

    @pytest.mark.parametrize("name", ["", "/etc/passwd", "../x", "a/../../x", "a//b", "a\\b", "./a"])
    def test_names_that_escape_the_run_dir_are_refused(self, store: Store, name: str) -> None:
        plan_id, token = self._claimed(store)
        batch = [FileUpload.of("ok.md", "T", b""), FileUpload.of(name, "T", b"")]
        with store.write() as session, pytest.raises(ValueError, match="run directory"):
            upsert_files(session, plan_id=plan_id, token=token, files=batch)
        with store.write() as session, pytest.raises(ValueError, match="run directory"):
            store_files(session, plan_id=plan_id, files=batch)
        with store.read() as session:
            assert list_files(session, plan_id) == []

    def test_fenced_out_stores_nothing(self, store: Store) -> None:
        plan_id, token = self._claimed(store)
        with store.write() as session:
            assert not upsert_files(
                session,
                plan_id=plan_id,
                token=token + 1,
                files=[FileUpload.of("a", "T", b"x"), FileUpload.of("b", "T", b"y")],
            )
        with store.read() as session:
            assert list_files(session, plan_id) == []


class TestUsage:
    def test_add_usage_accumulates_per_model_and_on_the_plan(self, store: Store) -> None:
        plan_id = store.add_plan()
        claimed = store.claim()
        assert claimed is not None
        token = claimed.fencing_token

        def delta(calls: int) -> UsageDelta:
            return UsageDelta(calls, 1, 100 * calls, 10 * calls, 0.5 * calls)

        for batch in ({"m1": delta(2)}, {"m1": delta(3), "m2": delta(1)}):
            with store.write() as session:
                assert add_usage(session, plan_id=plan_id, token=token, usage=batch)
        with store.write() as session:
            assert not add_usage(session, plan_id=plan_id, token=token + 1, usage={"m1": delta(100)})
        with store.read() as session:
            usage = [
                (u.model, u.calls, u.failed_attempts, u.prompt_tokens, u.latency_s_total)
                for u in usage_for_plan(session, plan_id)
            ]
        assert usage == [("m1", 5, 2, 500, 2.5), ("m2", 1, 1, 100, 0.5)]
        plan = store.get(plan_id)
        assert (plan.llm_calls, plan.prompt_tokens, plan.completion_tokens) == (6, 600, 60)

    def test_progress_adds_usage_to_the_plan_totals(self, store: Store) -> None:
        plan_id = store.add_plan()
        claimed = store.claim()
        assert claimed is not None
        for calls in (2, 3):
            with store.write() as session:
                usage = {"m1": UsageDelta(calls=calls, prompt_tokens=10, completion_tokens=1)}
                store_usage(session, plan_id=plan_id, usage=usage)
                assert update_progress(
                    session,
                    plan_id=plan_id,
                    token=claimed.fencing_token,
                    done=1,
                    total=2,
                    running_tasks=[],
                    usage=usage,
                )
        plan = store.get(plan_id)
        assert (plan.llm_calls, plan.prompt_tokens, plan.completion_tokens) == (5, 20, 2)
        with store.read() as session:
            assert [(u.model, u.calls) for u in usage_for_plan(session, plan_id)] == [("m1", 5)]


class TestWorkers:
    def test_lifecycle_and_dead_workers(self, store: Store) -> None:
        with store.write() as session:
            register_worker(session, worker_id="a", host="h1", pid=10, role="api", now=T0)
            register_worker(session, worker_id="b", host="h2", pid=20, role="worker", now=T0)
            register_worker(session, worker_id="c", host="h1", pid=30, role="worker", now=T0)
        with store.write() as session:
            assert heartbeat_worker(session, worker_id="a", now=at(60))
            assert mark_worker_stopped(session, worker_id="c", now=at(60))
            assert not heartbeat_worker(session, worker_id="c", now=at(61))  # stopped: must register again
            assert not heartbeat_worker(session, worker_id="nobody", now=at(61))
        with store.read() as session:
            assert [w.id for w in dead_workers(session, now=at(70), stale_after_s=30)] == ["b"]
            assert [w.id for w in list_workers(session, host="h1")] == ["a"]
            assert [w.id for w in list_workers(session, host="h1", include_stopped=True)] == ["a", "c"]
        with store.write() as session:
            worker = register_worker(session, worker_id="c", host="h1", pid=31, role="worker", now=at(80))
            assert worker.stopped_at is None and worker.pid == 31 and worker.heartbeat_at == at(80)


class TestTransactions:
    def test_rollback_on_error(self, store: Store) -> None:
        with pytest.raises(RuntimeError), store.write() as session:
            create_plan(session, prompt="x")
            raise RuntimeError("boom")
        with store.read() as session:
            assert queue_depth(session) == 0

    def test_deleting_a_plan_cascades(self, store: Store) -> None:
        plan_id = store.add_plan()
        claimed = store.claim()
        assert claimed is not None
        with store.write() as session:
            token = claimed.fencing_token
            append_events(session, plan_id=plan_id, token=token, events=[{"kind": "a"}])
            upsert_files(session, plan_id=plan_id, token=token, files=[FileUpload.of("f", "T", b"x")])
            add_usage(session, plan_id=plan_id, token=token, usage={"m": UsageDelta(calls=1)})
        with store.write() as session:
            session.execute(delete(Plan).where(Plan.id == plan_id))
        with store.read() as session:
            for model in (PlanEvent, PlanFile, LlmUsage):
                assert session.scalar(select(func.count()).select_from(model)) == 0


def test_sqlite_connections_use_wal_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'new' / 'dir' / 'planexe.db'}")
    try:
        with transaction(make_session_factory(engine)) as session:
            assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert session.execute(text("PRAGMA busy_timeout")).scalar() == 10_000
    finally:
        engine.dispose()


def test_unreachable_postgres_is_store_unavailable() -> None:
    engine = make_engine("postgresql://nobody@127.0.0.1:9/none")
    try:
        with (
            pytest.raises(StoreUnavailable, match="unavailable"),
            transaction(make_session_factory(engine)) as session,
        ):
            session.execute(text("SELECT 1"))
    finally:
        engine.dispose()
