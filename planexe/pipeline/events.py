"""Append-only ``events.jsonl``: one JSON object per line, written by any process.

Steps may run in forked task processes (``PLANEXE_TASK_ISOLATION=process``), so
every write opens the file with O_APPEND and issues one ``write`` per line: the
kernel serialises appends, and a reader tailing the file never sees two events
interleaved. Every line carries ``eid``, a random id unique to that line: the
service ships each line to the database once, also lines a crashed run wrote
just before it died (see ``planexe_api/services/plan_sync.py``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from planexe.llm.types import CallRecord


def new_event_id() -> str:
    # Random rather than a counter: lines come from several processes (forked steps, pids that
    # may be reused within a run), and a counter would need state shared between them.
    return os.urandom(8).hex()


class EventWriter:
    def __init__(self, path: Path, attempt: int = 1) -> None:
        self.path = path
        self.attempt = attempt

    def emit(self, kind: str, **fields: Any) -> None:
        record = {
            "eid": new_event_id(),
            "ts": round(time.time(), 4),
            "kind": kind,
            "attempt": self.attempt,
            "pid": os.getpid(),
            **fields,
        }
        line = (json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def llm_call(self, record: CallRecord) -> None:
        self.emit(
            "llm_call",
            task=record.step.split(":", 1)[0],
            step=record.step,
            model=record.model,
            llm_attempt=record.attempt,
            outcome=record.outcome,
            duration_s=round(record.duration_s, 4),
            prompt_tokens=record.prompt_tokens,
            completion_tokens=record.completion_tokens,
            prompt_tokens_est=record.prompt_tokens_est,
            **_optional(record),
        )


def _optional(record: CallRecord) -> dict[str, Any]:
    """The call's fields that are only there when they say something."""
    fields: dict[str, Any] = {}
    if record.model_name:
        fields["model_name"] = record.model_name  # the config entry, when its name is not the model id
    if record.max_tokens is not None:
        fields["max_tokens"] = record.max_tokens
    if record.cost_usd is not None:
        fields["cost_usd"] = record.cost_usd
    if record.repairs:
        fields["repairs"] = list(record.repairs)
    if record.usage_estimated:
        fields["usage_estimated"] = True
    if record.cached:
        # Served from the run's call checkpoints: no call was made, nothing is spent or counted.
        fields["cached"] = True
    if record.detail:
        fields["detail"] = record.detail[:300]
    fields.update(record.extra)
    return fields


def read_events(path: Path, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Complete lines from byte ``offset``; returns the events and the offset to resume from.

    A trailing line without its newline is still being written and is left for
    the next read.
    """
    lines, offset = read_event_lines(path, offset)
    return [event for _, event in lines], offset


def read_event_lines(path: Path, offset: int = 0) -> tuple[list[tuple[int, dict[str, Any]]], int]:
    """Like ``read_events``, each event with the byte offset where its line starts."""
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            chunk = fh.read()
    except FileNotFoundError:
        return [], offset
    end = chunk.rfind(b"\n")
    if end < 0:
        return [], offset
    lines = []
    position = offset
    for raw in chunk[: end + 1].splitlines(keepends=True):
        start, position = position, position + len(raw)
        if raw.strip():
            try:
                lines.append((start, json.loads(raw)))
            except json.JSONDecodeError:
                continue  # a line torn by a crash mid-write; the task's own state is in its output file
    return lines, offset + end + 1


def iter_events(path: Path) -> Iterator[dict[str, Any]]:
    events, _ = read_events(path)
    yield from events
