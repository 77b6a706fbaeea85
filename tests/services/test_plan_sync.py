"""PlanSync on SQLite and PostgreSQL: a sync's events, files and usage land in one fenced batch."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from planexe.pipeline.events import new_event_id
from planexe.pipeline.rundir import EVENTS_FILE, REPORT_FILE
from planexe_api.db.engine import transaction
from planexe_api.db.models import Plan, PlanEvent, PlanFile
from planexe_api.db.repo_files import get_file, list_files
from planexe_api.db.repo_leases import claim_next, recover_expired, release_worker_leases
from planexe_api.db.repo_plans import create_plan, get_plan
from planexe_api.db.repo_usage import usage_for_plan
from planexe_api.services.plan_signals import PlanSignals
from planexe_api.services.plan_sync import PlanSync, read_stored, restore_outputs
from planexe_api.services.store import Store

LEASE_S = 30.0


class RunDir:
    """A run directory the way the pipeline child leaves it: output files and events.jsonl."""

    def __init__(self, path: Path, run: int = 1) -> None:
        self.path = path
        self.run = run  # the run whose pipeline writes the lines (their "attempt")
        path.mkdir(parents=True, exist_ok=True)

    def output(self, name: str, task: str, content: bytes) -> dict[str, Any]:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        return {"kind": "task_succeeded", "task": task, "output": name}

    def emit(self, *events: dict[str, Any]) -> None:
        with (self.path / EVENTS_FILE).open("a", encoding="utf-8") as fh:
            for e in events:
                fh.write(json.dumps({"eid": new_event_id(), "attempt": self.run, **e}) + "\n")


def new_sync(
    factory: sessionmaker[Session], plan_id: str, token: int, run: RunDir, **kwargs: Any
) -> PlanSync:
    """A sync as a run starts it: with what the database holds of the plan."""
    store = Store(factory)
    stored = store.run_sync(lambda s: read_stored(s, plan_id))
    return PlanSync(store, plan_id, token, run.path, stored, **kwargs)


def _llm_call(model: str, outcome: str = "ok") -> dict[str, Any]:
    return {
        "kind": "llm_call",
        "model": model,
        "outcome": outcome,
        "prompt_tokens": 100,
        "completion_tokens": 10,
        "duration_s": 0.25,
    }


def _claim(factory: sessionmaker[Session], worker_id: str, now: Any = None) -> tuple[str, int]:
    from planexe_api.db.models import utcnow

    with transaction(factory, write=True) as session:
        plan = claim_next(session, worker_id=worker_id, lease_s=LEASE_S, now=now or utcnow())
        assert plan is not None
        return plan.id, plan.fencing_token


@pytest.fixture
def plan_id(session_factory: sessionmaker[Session]) -> str:
    with transaction(session_factory, write=True) as session:
        return create_plan(session, prompt="Open a bakery").id


def _count(factory: sessionmaker[Session], model: type[Any]) -> int:
    with transaction(factory) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


class TestBatch:
    def test_many_files_and_usage_in_one_sync(
        self, session_factory: sessionmaker[Session], plan_id: str, tmp_path: Path
    ) -> None:
        _, token = _claim(session_factory, "A")
        run = RunDir(tmp_path / "run", token)
        sync = new_sync(session_factory, plan_id, token, run)
        outputs = {f"{i:03}-out.md": f"# task {i}\n".encode() * (i + 1) for i in range(60)}
        run.emit(
            {"kind": "run_started", "total": 61, "done_tasks": []},
            *(run.output(name, f"Task{i}", content) for i, (name, content) in enumerate(outputs.items())),
            _llm_call("m1"),
            _llm_call("m1", outcome="timeout"),
            _llm_call("m2"),
        )
        assert anyio.run(sync.pump)
        with transaction(session_factory) as session:
            stored = {f.name: (f.task, f.size) for f in list_files(session, plan_id)}
            assert stored == {
                name: (f"Task{i}", len(content)) for i, (name, content) in enumerate(outputs.items())
            }
            one = get_file(session, plan_id, "007-out.md")
            assert one is not None and one.content == outputs["007-out.md"]
            usage = [
                (u.model, u.calls, u.failed_attempts, u.prompt_tokens, u.latency_s_total)
                for u in usage_for_plan(session, plan_id)
            ]
            plan = get_plan(session, plan_id)
        assert usage == [("m1", 1, 1, 200, 0.5), ("m2", 1, 0, 100, 0.25)]
        assert plan is not None
        assert (plan.llm_calls, plan.prompt_tokens, plan.completion_tokens) == (2, 300, 30)
        assert (plan.progress_done, plan.progress_total, plan.last_event_seq) == (60, 61, 64)

        # The next sync adds to the same usage rows and totals.
        run.emit(_llm_call("m1"))
        assert anyio.run(sync.pump)
        with transaction(session_factory) as session:
            assert [(u.model, u.calls) for u in usage_for_plan(session, plan_id)] == [("m1", 2), ("m2", 1)]
            plan = get_plan(session, plan_id)
        assert plan is not None and plan.llm_calls == 3

    def test_one_statement_for_the_files_of_a_sync(
        self, session_factory: sessionmaker[Session], plan_id: str, tmp_path: Path
    ) -> None:
        _, token = _claim(session_factory, "A")
        run = RunDir(tmp_path / "run", token)
        sync = new_sync(session_factory, plan_id, token, run)
        run.emit(*(run.output(f"{i:03}.md", f"T{i}", b"x" * i) for i in range(30)), _llm_call("m"))
        with _statements(session_factory) as statements:
            assert anyio.run(sync.pump)
        writes = [re.sub(r"^(INSERT INTO|UPDATE) (\w+).*", r"\1 \2", s, flags=re.S) for s in statements]
        writes = [w for w in writes if w.startswith(("INSERT", "UPDATE"))]
        assert sorted(writes) == sorted(
            [
                "UPDATE plans",  # the fence, numbering the events
                "INSERT INTO plan_events",
                "INSERT INTO plan_files",
                "INSERT INTO llm_usage",
                "UPDATE plans",  # progress and LLM totals
            ]
        )
        assert _count(session_factory, PlanFile) == 30

    def test_unchanged_output_is_not_sent_again(
        self, session_factory: sessionmaker[Session], plan_id: str, tmp_path: Path
    ) -> None:
        _, token = _claim(session_factory, "A")
        run = RunDir(tmp_path / "run", token)
        sync = new_sync(session_factory, plan_id, token, run)
        run.emit(run.output("a.md", "A", b"same"))
        assert anyio.run(sync.pump)
        run.emit(run.output("a.md", "A", b"same"), {"kind": "task_started", "task": "B"})
        with _statements(session_factory) as statements:
            assert anyio.run(sync.pump)
        assert not [s for s in statements if "plan_files" in s]


class TestSignals:
    def test_a_sync_that_wrote_wakes_the_plans_streams(
        self, session_factory: sessionmaker[Session], plan_id: str, tmp_path: Path
    ) -> None:
        _, token = _claim(session_factory, "A")
        run = RunDir(tmp_path / "run", token)
        signals = PlanSignals()
        sync = new_sync(session_factory, plan_id, token, run, signals=signals)

        async def main() -> None:
            waiting = signals.listen(plan_id)
            assert await sync.pump()  # nothing new: no write, no wake-up
            assert not waiting.is_set()
            run.emit({"kind": "task_started", "task": "A"})
            assert await sync.pump()
            assert waiting.is_set()
            stale = new_sync(session_factory, plan_id, token - 1, run, signals=signals)
            waiting = signals.listen(plan_id)
            RunDir(run.path, token - 1).emit({"kind": "task_started", "task": "B"})
            assert not await stale.pump()
            assert not waiting.is_set()

        anyio.run(main)


class TestFencing:
    def test_a_stale_token_writes_no_events_files_or_usage(
        self, session_factory: sessionmaker[Session], plan_id: str, tmp_path: Path
    ) -> None:
        from planexe_api.db.models import utcnow

        _, old = _claim(session_factory, "A")
        run = RunDir(tmp_path / "run", old)
        stale = new_sync(session_factory, plan_id, old, run)
        now = utcnow()
        with transaction(session_factory, write=True) as session:
            release_worker_leases(session, worker_id="A", now=now)
            recover_expired(session, now=now, max_age_s=3600, max_attempts=3)
        _, new = _claim(session_factory, "B", now=now)
        assert new == old + 1
        run.emit(
            run.output("a.md", "A", b"from the old run"),
            run.output("b.md", "B", b"also old"),
            _llm_call("m"),
        )
        assert not anyio.run(stale.pump)
        (run.path / REPORT_FILE).write_bytes(b"<html>old</html>")
        stale_report = new_sync(session_factory, plan_id, old, run)
        stale_report.outputs = {REPORT_FILE: "report"}
        assert not anyio.run(stale_report.upload_missing)  # fenced by hold_fence, no events to number
        assert _count(session_factory, PlanFile) == 0
        with transaction(session_factory) as session:
            assert usage_for_plan(session, plan_id) == []
            plan = session.get(Plan, plan_id)
            assert plan is not None and (plan.llm_calls, plan.fencing_token) == (0, new)
            kinds = session.scalars(select(PlanEvent.kind).where(PlanEvent.plan_id == plan_id)).all()
        assert "task_succeeded" not in kinds and "llm_call" not in kinds


class _statements:
    """The SQL statements run through ``factory``'s engine inside the block."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.engine = factory.kw["bind"]
        self.seen: list[str] = []
        self._listener: Callable[..., None] = lambda _c, _cur, stmt, *_a: self.seen.append(stmt.strip())

    def __enter__(self) -> list[str]:
        event.listen(self.engine, "before_cursor_execute", self._listener)
        return self.seen

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._listener)


def _requeue_and_claim(factory: sessionmaker[Session], worker_id: str) -> int:
    """The first runner died; recovery requeues the plan and ``worker_id`` claims it: the new token."""
    from planexe_api.db.models import utcnow

    now = utcnow()
    with transaction(factory, write=True) as session:
        release_worker_leases(session, worker_id="A", now=now)
        recover_expired(session, now=now, max_age_s=3600, max_attempts=3)
    return _claim(factory, worker_id, now=now)[1]


def _stored_kinds(factory: sessionmaker[Session], plan_id: str) -> list[tuple[str, int | None]]:
    with transaction(factory) as session:
        rows = session.execute(
            select(PlanEvent.kind, PlanEvent.data).where(PlanEvent.plan_id == plan_id).order_by(PlanEvent.seq)
        ).all()
    return [(kind, data.get("attempt")) for kind, data in rows if kind != "plan_recovered"]


class TestCrashConsistency:
    def test_a_crashed_runs_unshipped_lines_are_shipped_once_by_the_next_run(
        self, session_factory: sessionmaker[Session], plan_id: str, tmp_path: Path
    ) -> None:
        _, first = _claim(session_factory, "A")
        old = RunDir(tmp_path / "run", first)
        old.emit({"kind": "task_started", "task": "a"}, _llm_call("m"))
        assert anyio.run(new_sync(session_factory, plan_id, first, old).pump)
        # The run's last lines, written just before its runner was killed: never shipped.
        old.emit(old.output("a.json", "a", b"{}"), _llm_call("m"), _llm_call("m"))
        second = _requeue_and_claim(session_factory, "B")
        sync = new_sync(session_factory, plan_id, second, RunDir(old.path, second))
        old.emit({"kind": "task_started", "task": "zombie"})  # the old run, still writing, fenced out
        assert anyio.run(sync.pump) and anyio.run(sync.pump)
        assert _stored_kinds(session_factory, plan_id) == [
            ("task_started", first),
            ("llm_call", first),
            ("task_succeeded", first),
            ("llm_call", first),
            ("llm_call", first),
        ]
        assert sync.foreign_lines == 1
        with transaction(session_factory) as session:
            plan = get_plan(session, plan_id)
            stored = get_file(session, plan_id, "a.json")
        assert plan is not None and plan.llm_calls == 3  # every call made, none counted twice
        assert stored is not None and stored.content == b"{}"

    def test_run_started_uploads_what_is_done_on_disk_but_not_stored(
        self, session_factory: sessionmaker[Session], plan_id: str, tmp_path: Path
    ) -> None:
        _, token = _claim(session_factory, "A")
        run = RunDir(tmp_path / "run", token)
        (run.path / "a.json").write_bytes(b'{"a": 1}')  # done by a run whose success never shipped
        sync = new_sync(session_factory, plan_id, token, run)
        run.emit({"kind": "run_started", "total": 2, "outputs": {"a.json": "a", "b.json": "b"}})
        assert anyio.run(sync.pump)
        with transaction(session_factory) as session:
            assert {f.name: f.task for f in list_files(session, plan_id)} == {"a.json": "a"}
        assert sync.missing_outputs() == ["b.json"]
        (run.path / "b.json").write_bytes(b"{}")
        assert anyio.run(sync.upload_missing) and sync.missing_outputs() == []
        assert _count(session_factory, PlanFile) == 2

    def test_restore_writes_what_the_directory_lacks_and_replaces_other_versions(
        self, session_factory: sessionmaker[Session], plan_id: str, tmp_path: Path
    ) -> None:
        _, token = _claim(session_factory, "A")
        run = RunDir(tmp_path / "run", token)
        sync = new_sync(session_factory, plan_id, token, run)
        run.emit(
            run.output("same.json", "s", b"same"),
            run.output("changed.json", "c", b"stored version"),
            run.output("gone.json", "g", b"stored"),
        )
        assert anyio.run(sync.pump)
        (run.path / "changed.json").write_bytes(b"written by a run that lost the plan")
        (run.path / "gone.json").unlink()
        store = Store(session_factory)
        stored = store.run_sync(lambda s: read_stored(s, plan_id))
        assert restore_outputs(store, plan_id, run.path, stored) == 2
        assert (run.path / "changed.json").read_bytes() == b"stored version"
        assert (run.path / "gone.json").read_bytes() == b"stored"
        assert restore_outputs(store, plan_id, run.path, stored) == 0
