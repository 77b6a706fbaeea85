"""Stopping a step that runs as a thread of the pipeline process.

A forked step is stopped with a signal; a thread cannot be, so the worker
cancels the step's event loop instead: the step's main coroutine gets
``CancelledError`` at its next ``await`` (an LLM call, a retry's sleep),
which is where a step that outlives its timeout is waiting. Threads are
keyed by their identity, so a retry of the same step, in a new thread, is
never hit by the cancellation meant for the old one.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

_lock = threading.Lock()
_cancellers: dict[int, Callable[[], object]] = {}
_doomed: set[int] = set()  # threads told to stop, possibly before their loop started


def enter() -> int:
    """Make the running coroutine cancellable from other threads (call it first in the step)."""
    ident = threading.get_ident()
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    with _lock:
        if ident in _doomed:
            raise asyncio.CancelledError("the step was stopped before it started")
        if main is not None:
            _cancellers[ident] = lambda: loop.call_soon_threadsafe(main.cancel)
    return ident


def leave(ident: int) -> None:
    with _lock:
        _cancellers.pop(ident, None)


def cancel(ident: int) -> None:
    """Stop the step running in thread ``ident``, now or as soon as it starts."""
    with _lock:
        _doomed.add(ident)
        canceller = _cancellers.get(ident)
    if canceller is not None:
        canceller()


def forget(ident: int) -> None:
    """The thread is ending: its identity may be reused by a new thread."""
    with _lock:
        _doomed.discard(ident)
        _cancellers.pop(ident, None)
