"""Ship a run directory's progress to the database while its child runs.

Reads new lines of ``events.jsonl``, appends them to ``plan_events``, updates
progress and LLM usage, and copies each finished task's output into
``plan_files``, all under the plan's fencing token: if the token no longer
holds, nothing is written and the caller learns the lease is lost.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.orm import Session

from planexe.pipeline.events import read_events
from planexe.pipeline.progress import Progress
from planexe.pipeline.rundir import EVENTS_FILE, REPORT_FILE, atomic_write_bytes
from planexe_api.db import repo_events, repo_files, repo_leases, repo_usage
from planexe_api.db.models import utcnow
from planexe_api.db.repo_files import FileUpload
from planexe_api.db.repo_usage import UsageDelta
from planexe_api.services.plan_signals import PlanSignals
from planexe_api.services.store import Store


class Observer(Protocol):
    def observe_event(self, event: dict[str, Any]) -> None: ...


@dataclass
class Batch:
    events: list[dict[str, Any]] = field(default_factory=list)
    files: list[FileUpload] = field(default_factory=list)
    usage: dict[str, UsageDelta] = field(default_factory=lambda: defaultdict(UsageDelta))


class PlanSync:
    def __init__(
        self,
        store: Store,
        plan_id: str,
        token: int,
        run_dir: Path,
        observer: Observer | None = None,
        signals: PlanSignals | None = None,
    ) -> None:
        self.store = store
        self.observer = observer
        self.signals = signals
        self.plan_id = plan_id
        self.token = token
        self.run_dir = run_dir
        self.path = run_dir / EVENTS_FILE
        # Earlier attempts' lines were shipped by whoever ran them: start at the end.
        self.offset = self.path.stat().st_size if self.path.exists() else 0
        self.progress = Progress()
        self.files_sent: dict[str, str] = {}  # name -> sha256
        self._pending: Batch | None = None

    def _read_batch(self) -> Batch:
        events, self.offset = read_events(self.path, self.offset)
        batch = Batch()
        for event in events:
            self.progress.apply(event)
            if self.observer is not None:
                self.observer.observe_event(event)
            batch.events.append(event)
            kind = event.get("kind")
            if kind == "task_succeeded" and event.get("output"):
                self._add_file(batch, str(event["output"]), str(event.get("task", "")))
            elif kind == "llm_call":
                usage = batch.usage[str(event.get("model", "?"))]
                if event.get("outcome") == "ok":
                    usage.calls += 1
                else:
                    usage.failed_attempts += 1
                usage.prompt_tokens += int(event.get("prompt_tokens") or 0)
                usage.completion_tokens += int(event.get("completion_tokens") or 0)
                usage.latency_s += float(event.get("duration_s") or 0)
        return batch

    def _add_file(self, batch: Batch, name: str, task: str) -> None:
        try:
            content = (self.run_dir / name).read_bytes()
        except FileNotFoundError:
            return
        upload = FileUpload.of(name, task, content)
        if self.files_sent.get(name) != upload.sha256:
            batch.files.append(upload)
            self.files_sent[name] = upload.sha256

    def _write(self, session: Session, batch: Batch) -> bool:
        now = utcnow()
        # The first statement is the fence: it locks the plan row (PostgreSQL) under the
        # database write lock this transaction already holds (SQLite), so the unfenced
        # stores below cannot land after another runner has taken the plan over.
        if batch.events:
            seqs = repo_events.append_events(
                session, plan_id=self.plan_id, token=self.token, events=batch.events, now=now
            )
            if seqs is None:
                return False
        elif not repo_leases.hold_fence(session, plan_id=self.plan_id, token=self.token, now=now):
            return False
        repo_files.store_files(session, plan_id=self.plan_id, files=batch.files, now=now)
        repo_usage.store_usage(session, plan_id=self.plan_id, usage=batch.usage)
        snap = self.progress
        return repo_leases.update_progress(
            session,
            plan_id=self.plan_id,
            token=self.token,
            done=len(snap.done),
            total=snap.total,
            running_tasks=sorted(snap.running),
            usage=batch.usage,
            now=now,
        )

    async def pump(self) -> bool:
        """Ship everything new in one transaction; False if the plan's token no longer holds.

        If the database is unreachable the batch is kept and sent first next
        time, so a database restart delays events but loses none.
        """
        resending = self._pending is not None
        batch = self._pending or self._read_batch()
        self._pending = batch
        if not batch.events and not batch.files:
            self._pending = None
            return True
        held = await self._ship(batch)
        self._pending = None
        if held and resending:
            # The kept batch is out; the lines written while the database was away are not yet
            # (the final sync calls pump once and must get everything).
            return await self.pump()
        return held

    async def ship_report(self) -> bool:
        batch = Batch()
        self._add_file(batch, REPORT_FILE, "report")
        if not batch.files:
            return False
        return await self._ship(batch)

    async def _ship(self, batch: Batch) -> bool:
        held = await self.store.run(lambda s: self._write(s, batch), write=True)
        if held and self.signals is not None:
            self.signals.notify(self.plan_id)
        return held


def restore_outputs(store: Store, plan_id: str, run_dir: Path) -> int:
    """Write the plan's stored outputs that the run directory lacks (another machine ran them)."""
    run_dir.mkdir(parents=True, exist_ok=True)

    def missing(session: Session) -> list[tuple[str, bytes]]:
        return [
            (n, c) for n, c in repo_files.all_file_contents(session, plan_id) if not (run_dir / n).exists()
        ]

    restored = store.run_sync(missing)
    for name, content in restored:
        atomic_write_bytes(run_dir / name, content)
    return len(restored)
