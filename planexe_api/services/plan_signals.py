"""Wake this process's event streams when a plan's events were committed in this process.

The runner that ships a plan's events is often in the process that streams
them: then a stream need not wait for its next poll. Streams served by other
replicas keep polling (``SSE_POLL_S`` in routes/sse.py); a signal only
shortens the wait and is never needed for correctness.

Use from the event loop thread only (``anyio.Event`` is not thread-safe).
"""

from __future__ import annotations

import weakref

import anyio


class PlanSignals:
    def __init__(self) -> None:
        # Weak: an entry lives as long as some stream holds its event, so plans that
        # are streamed but never run here leave nothing behind.
        self._events: weakref.WeakValueDictionary[str, anyio.Event] = weakref.WeakValueDictionary()

    def listen(self, plan_id: str) -> anyio.Event:
        """The event the next ``notify(plan_id)`` sets.

        Take it before reading the database: a commit between that read and the wait then
        still wakes the wait (the event is already set) instead of being missed.
        """
        event = self._events.get(plan_id)
        if event is None:
            event = self._events[plan_id] = anyio.Event()
        return event

    def notify(self, plan_id: str) -> None:
        """The plan's events or status changed (committed): wake whoever listens."""
        event = self._events.pop(plan_id, None)
        if event is not None:
            event.set()
