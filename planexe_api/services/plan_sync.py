"""Ship a run directory's progress to the database while its child runs.

Reads new lines of ``events.jsonl``, appends them to ``plan_events``, updates
progress and LLM usage, and copies the plan's outputs into ``plan_files``,
all under the plan's fencing token: if the token no longer holds, nothing is
written and the caller learns the lease is lost.

Crash consistency rests on two rules. Lines are shipped by their ``eid``, not
by position: a run reads the whole file and ships every line whose id is not
stored yet, so the lines a crashed run wrote in its last moments (a finished
task, the usage of its last calls) reach the database with the next run, and
a line is never stored twice. And what is on disk is reconciled with what is
stored: before the child starts, stored outputs the directory lacks (or holds
in another version) are written to it; when the child announces its run
(``run_started``, with every output of the DAG), each output on disk that the
database lacks is uploaded, so nothing counted as done is missing from the
database. Lines of *another* run that appear after this run started come
from a pipeline that lost the plan and is stopping; they are not shipped.

Call checkpoints (``calls/``, see ``planexe/pipeline/calls.py``) travel the
same way: each is shipped when its ``llm_call`` event names it, any the
database lacks are shipped when a run announces itself (a crashed run's last
answers), and the ones the run directory lacks are restored before the child
starts, so a plan recovered on another machine reuses every stored answer.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import anyio
from sqlalchemy.orm import Session

from planexe.pipeline.calls import CallBook, is_checkpoint_name, task_of
from planexe.pipeline.events import read_event_lines
from planexe.pipeline.progress import Progress
from planexe.pipeline.rundir import EVENTS_FILE, atomic_write_bytes, file_sha256
from planexe_api.db import repo_calls, repo_events, repo_files, repo_leases, repo_usage
from planexe_api.db.models import utcnow
from planexe_api.db.repo_calls import CallUpload
from planexe_api.db.repo_files import FileUpload
from planexe_api.db.repo_usage import UsageDelta
from planexe_api.services.plan_signals import PlanSignals
from planexe_api.services.store import Store


class Observer(Protocol):
    def observe_event(self, event: dict[str, Any]) -> None: ...


@dataclass
class Batch:
    events: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, FileUpload] = field(default_factory=dict)  # by name: the newest version wins
    usage: dict[str, UsageDelta] = field(default_factory=lambda: defaultdict(UsageDelta))
    calls: dict[str, CallUpload] = field(default_factory=dict)  # call checkpoints, by name


@dataclass(frozen=True)
class Stored:
    """What the database holds of a plan when a run starts."""

    files: dict[str, str]  # name -> sha256
    event_ids: set[str]  # eids of shipped events.jsonl lines
    calls: set[str] = field(default_factory=set)  # names of stored call checkpoints


def read_stored(session: Session, plan_id: str) -> Stored:
    return Stored(
        files={f.name: f.sha256 for f in repo_files.list_files(session, plan_id)},
        event_ids=repo_events.stored_event_ids(session, plan_id),
        calls=repo_calls.call_names(session, plan_id),
    )


def restore_outputs(store: Store, plan_id: str, run_dir: Path, stored: Stored) -> int:
    """Write into the run directory every stored output it lacks or holds in another version (the
    database wins: its versions passed the plan's fence); returns how many. Blocking: run it in
    a worker thread."""
    run_dir.mkdir(parents=True, exist_ok=True)
    stale = {name for name, sha in stored.files.items() if file_sha256(run_dir / name) != sha}
    if not stale:
        return 0

    def read(session: Session) -> list[tuple[str, bytes]]:
        return [(n, c) for n, c in repo_files.all_file_contents(session, plan_id) if n in stale]

    contents = store.run_sync(read)
    for name, content in contents:
        atomic_write_bytes(run_dir / name, content)
    return len(contents)


def restore_calls(store: Store, plan_id: str, run_dir: Path, stored: Stored) -> int:
    """Write into the run directory every stored call checkpoint it lacks; returns how many.
    (A checkpoint never changes, so one that is there is the one stored.) Blocking."""
    missing = [name for name in stored.calls if not (run_dir / name).exists()]
    if not missing:
        return 0
    contents = store.run_sync(lambda s: list(repo_calls.call_contents(s, plan_id, missing)))
    for name, content in contents:
        atomic_write_bytes(run_dir / name, content)
    return len(contents)


class PlanSync:
    def __init__(
        self,
        store: Store,
        plan_id: str,
        token: int,
        run_dir: Path,
        stored: Stored,
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
        self.offset = 0  # the whole file: an earlier run's unshipped lines are shipped by this one
        self.started_at = self.path.stat().st_size if self.path.exists() else 0
        self.stored_files = dict(stored.files)  # name -> sha256 of what the database holds
        self.shipped = set(stored.event_ids)
        self.stored_calls = set(stored.calls)
        self.progress = Progress()
        self.outputs: dict[str, str] = {}  # every output of the DAG -> its task, from run_started
        self.foreign_lines = 0  # lines of a run that lost the plan, seen after this one started
        self._pending: Batch | None = None

    def _read_batch(self) -> Batch:
        lines, self.offset = read_event_lines(self.path, self.offset)
        batch = Batch()
        for position, event in lines:
            eid = event.get("eid")
            if not eid:
                continue  # written before lines had ids; that release shipped them by position
            if eid in self.shipped:
                continue
            ours = event.get("attempt") == self.token
            if not ours and position >= self.started_at:
                self.foreign_lines += 1
                continue
            self.shipped.add(str(eid))
            if ours:
                self.progress.apply(event)
            if self.observer is not None:
                self.observer.observe_event(event)
            batch.events.append(event)
            self._collect(batch, event, ours)
        return batch

    def _collect(self, batch: Batch, event: dict[str, Any], ours: bool) -> None:
        kind = event.get("kind")
        if kind == "task_succeeded":
            names = event.get("outputs") or ([event["output"]] if event.get("output") else [])
            for name in names:
                self._add_file(batch, str(name), str(event.get("task", "")))
        elif kind == "run_started" and ours:
            # The run's view of the DAG: upload every output on disk the database lacks. A
            # crashed run's last outputs (finished, never shipped) are counted as done by this
            # run and would otherwise never be stored.
            self.outputs = {str(k): str(v) for k, v in (event.get("outputs") or {}).items()}
            for name, task in self.outputs.items():
                self._add_file(batch, name, task)
            for name in CallBook(self.run_dir).names():
                self._add_call(batch, name)
        elif kind == "llm_call" and event.get("cached"):
            return  # served from a checkpoint: no call, nothing spent
        elif kind == "llm_call":
            if event.get("checkpoint"):
                self._add_call(batch, str(event["checkpoint"]))
            usage = batch.usage[str(event.get("model", "?"))]
            if event.get("outcome") == "ok":
                usage.calls += 1
            else:
                usage.failed_attempts += 1
            usage.prompt_tokens += int(event.get("prompt_tokens") or 0)
            usage.completion_tokens += int(event.get("completion_tokens") or 0)
            usage.latency_s += float(event.get("duration_s") or 0)
            usage.add_cost(event.get("cost_usd"))

    def _add_file(self, batch: Batch, name: str, task: str) -> None:
        try:
            content = (self.run_dir / name).read_bytes()
        except FileNotFoundError:
            return
        upload = FileUpload.of(name, task, content)
        if self.stored_files.get(name) != upload.sha256:
            batch.files[name] = upload

    def _add_call(self, batch: Batch, name: str) -> None:
        if name in self.stored_calls or name in batch.calls or not is_checkpoint_name(name):
            return
        try:
            content = (self.run_dir / name).read_bytes()
        except FileNotFoundError:
            return  # pruned by a rerun since
        batch.calls[name] = CallUpload(name, task_of(name), content)

    def missing_outputs(self) -> list[str]:
        """Outputs of the DAG (as this run announced it) that the database does not hold as on disk."""
        return sorted(
            name
            for name in self.outputs
            if self.stored_files.get(name) is None
            or self.stored_files[name] != file_sha256(self.run_dir / name)
        )

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
        repo_files.store_files(session, plan_id=self.plan_id, files=list(batch.files.values()), now=now)
        repo_calls.store_calls(session, plan_id=self.plan_id, calls=list(batch.calls.values()), now=now)
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
        # File reads (events and outputs) in a worker thread, off the event loop.
        batch = self._pending
        if batch is None:
            batch = await anyio.to_thread.run_sync(self._read_batch)
        self._pending = batch
        if not batch.events and not batch.files and not batch.calls:
            self._pending = None
            return True
        held = await self._ship(batch)
        self._pending = None
        if held and resending:
            # The kept batch is out; the lines written while the database was away are not yet
            # (the final sync calls pump once and must get everything).
            return await self.pump()
        return held

    async def upload_missing(self) -> bool:
        """Upload the DAG's outputs the database lacks (after the child exited); False if fenced out."""
        batch = Batch()
        for name in self.missing_outputs():
            self._add_file(batch, name, self.outputs[name])
        return await self._ship(batch) if batch.files else True

    async def _ship(self, batch: Batch) -> bool:
        held = await self.store.run(lambda s: self._write(s, batch), write=True)
        if held:
            self.stored_files.update({name: f.sha256 for name, f in batch.files.items()})
            self.stored_calls.update(batch.calls)
            if self.signals is not None:
                self.signals.notify(self.plan_id)
        return held
