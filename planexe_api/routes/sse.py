"""A plan's events as Server-Sent Events: what ``GET /plans/{id}/events`` streams.

Each stored event goes out once with its sequence number as ``id``; the
stream ends with an ``end`` event once the plan is terminal and every event
has been sent. ``end`` has an id of its own, one past the last event's: a
client that drops repeated ids (EventSource does not, but many parsers do)
still gets it, and a reconnect with that id is answered 204 (``has_everything``),
the one answer that makes a browser's EventSource stop reconnecting. Ids are
unique and increasing within a stream, ``end`` is the last thing sent.
New events are found by polling the database every
``SSE_POLL_S``, or at once when this process commits some (``PlanSignals``).

A database outage does not break the stream: the response has started, so an
exception could only abort it mid-body (clients see a protocol error, the log
a traceback). Instead the stream says so in a comment line, waits the outage
out for up to ``SSE_OUTAGE_S``, and then ends without ``end``: the client
reconnects with ``Last-Event-ID`` and loses nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
from fastapi import Request
from sqlalchemy.orm import Session

from planexe.log import get_logger
from planexe_api.db import repo_events, repo_plans
from planexe_api.db.errors import StoreError, StoreUnavailable
from planexe_api.db.models import PlanStatus
from planexe_api.draining import draining_flag
from planexe_api.errors import ApiError
from planexe_api.state import AppState

log = get_logger(__name__)

SSE_POLL_S = 0.3  # seconds; how often a stream looks for new events unless woken sooner
SSE_KEEPALIVE_S = 15.0  # a comment line this often keeps proxies from closing an idle stream
SSE_OUTAGE_S = 30.0  # how long a stream waits out a database outage before it ends
SSE_OUTAGE_RETRY_S = 1.0
SSE_PAGE = 500  # events per read
RETRY_MS = 2000  # the reconnection delay a browser's EventSource is told to use
# The largest event id a client may send back: far above any plan's event count, and
# below the databases' 32-bit integer column (a larger value would fail the query).
MAX_EVENT_ID = 999_999_999
_EVENT_ID = re.compile(r"[0-9]{1,9}")


def parse_event_id(value: str | None, source: str = "Last-Event-ID") -> int:
    """The event id a client resumes after (``Last-Event-ID`` or ``?after=``); 0 for none."""
    text = (value or "").strip()
    if not text:
        return 0
    if _EVENT_ID.fullmatch(text) is None or int(text) > MAX_EVENT_ID:
        raise ApiError(
            f"{source} must be the numeric id of an event from this stream (0 to {MAX_EVENT_ID})",
            code="invalid_last_event_id",
        )
    return int(text)


def sse_event(seq: int, kind: str, data: dict[str, Any]) -> bytes:
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    return f"id: {seq}\nevent: {kind}\ndata: {payload}\n\n".encode()


def end_event_id(last_event_seq: int) -> int:
    """The id of a finished plan's ``end`` event: one past its last stored event."""
    return last_event_seq + 1


def has_everything(status: PlanStatus, last_event_seq: int, after: int) -> bool:
    """Whether a client that has the events up to ``after`` has all a stream could send it,
    ``end`` included: the plan has ended and ``after`` is at or past its ``end`` id."""
    return status.is_terminal and after >= end_event_id(last_event_seq)


@dataclass
class Page:
    events: list[tuple[int, str, dict[str, Any]]]
    status: PlanStatus
    last_seq: int  # the plan's newest event, read before the events (so never past the last one read)


class EventStream:
    def __init__(self, state: AppState, request: Request, plan_id: str, after: int) -> None:
        self.state = state
        self.request = request
        self.plan_id = plan_id
        self.seq = after  # the id of the last event the client has
        self.log = log.bind(plan_id=plan_id)

    def _read(self, session: Session, after: int) -> Page:
        plan = repo_plans.get_plan(session, self.plan_id)
        events = repo_events.events_after(session, self.plan_id, after, limit=SSE_PAGE)
        status = PlanStatus(plan.status) if plan else PlanStatus.FAILED  # deleted: end the stream
        last_seq = plan.last_event_seq if plan else after
        return Page([(e.seq, e.kind, e.as_dict()) for e in events], status, last_seq)

    async def _read_through_outage(self) -> Page | None:
        """The next page, waiting out a database outage; None if it lasted past ``SSE_OUTAGE_S``."""
        after = self.seq
        deadline = anyio.current_time() + SSE_OUTAGE_S
        warned = False
        while True:
            try:
                return await self.state.store.run(lambda s: self._read(s, after))
            except StoreUnavailable as exc:
                if not warned:
                    self.log.warning("event_stream_database_unavailable", error=str(exc))
                    warned = True
                if anyio.current_time() >= deadline or await self.request.is_disconnected():
                    return None
                await anyio.sleep(SSE_OUTAGE_RETRY_S)

    async def body(self) -> AsyncIterator[bytes]:
        yield f"retry: {RETRY_MS}\n\n".encode()
        quiet_since = anyio.current_time()
        while True:
            # Before the read, so a commit that lands after it still ends the wait below.
            wake = self.state.signals.listen(self.plan_id)
            try:
                page = await self._read_through_outage()
            except StoreError as exc:
                self.log.error("event_stream_store_error", error=str(exc))
                return
            if page is None:
                yield b": database unavailable; reconnect with Last-Event-ID\n\n"
                return
            for seq, kind, data in page.events:
                self.state.metrics.sse_events.inc()
                yield sse_event(seq, kind, data)
                self.seq = seq
            if page.events:
                quiet_since = anyio.current_time()
                continue
            if page.status.is_terminal:
                end_id = end_event_id(max(self.seq, page.last_seq))
                yield sse_event(end_id, "end", {"status": page.status.value})
                return
            if await self.request.is_disconnected():
                return
            if draining_flag(self.request.app).is_set():
                yield b": the server is stopping; reconnect with Last-Event-ID\n\n"
                return
            # Woken at once when this process commits the plan's events; the timeout is the
            # poll for plans that another replica runs.
            with anyio.move_on_after(SSE_POLL_S):
                await wake.wait()
            if anyio.current_time() - quiet_since >= SSE_KEEPALIVE_S:
                quiet_since = anyio.current_time()
                yield b": keep-alive\n\n"
