"""Permits shared by every call of this process, across threads and their event loops.

A pipeline runs each step in its own thread with its own event loop, so the gates
sit behind a ``threading.Lock`` and a waiter is woken through its own loop
(``call_soon_threadsafe``). Whoever changes a gate (an acquire, a release, a
waiter whose timer ran out) dispatches the grants it allows; no thread of our own
is needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

from planexe.llm.permits.gate import Outcome, Permit, PermitGate, Ticket
from planexe.llm.permits.limits import ProviderLimits
from planexe.llm.permits.types import Held, PermitRequest, Report

MAX_IDLE_S = 1.0  # a waiter looks at its gate at least this often


class _Waiter:
    __slots__ = ("event", "loop")

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.event = asyncio.Event()

    def wake(self) -> None:
        with contextlib.suppress(RuntimeError):  # its loop has closed: the waiter is gone
            self.loop.call_soon_threadsafe(self.event.set)


class LocalPermits:
    def __init__(self, **gate_options: float) -> None:
        self._lock = threading.Lock()
        self._gates: dict[str, PermitGate] = {}
        self._gate_options = gate_options  # PermitGate's keyword arguments (tests shorten the waits)

    def gate(self, key: str, limits: ProviderLimits) -> PermitGate:
        """The gate of ``key`` (created on first use); call with the lock held or from one thread."""
        gate = self._gates.get(key)
        if gate is None:
            gate = self._gates[key] = PermitGate(limits, **self._gate_options)
        elif gate.limits != limits:
            gate.set_limits(limits)
        return gate

    def _dispatch(self, gate: PermitGate, now: float) -> None:
        for permit in gate.dispatch(now):
            waiter = permit.ticket.owner
            assert isinstance(waiter, _Waiter)
            waiter.wake()
        # A release may leave the head waiting on the clock (a cool-down just began) where it
        # waited on a release before: wake it so that it sets its timer.
        head = gate.head(now)
        if head is not None and gate.next_wakeup(now) is not None:
            head.owner.wake()

    async def acquire(self, request: PermitRequest) -> Permit:
        waiter = _Waiter()
        ticket = Ticket(
            rank=(float(request.slack),),
            since=request.since or time.monotonic(),
            tokens=request.tokens,
            key=request.key,
            owner=waiter,
        )
        with self._lock:
            gate = self.gate(request.key, request.limits)
            gate.enqueue(ticket)
            self._dispatch(gate, time.monotonic())
        try:
            while True:
                with self._lock:
                    if ticket.permit is not None:
                        return ticket.permit
                    now = time.monotonic()
                    wake_at = gate.next_wakeup(now)
                    waiter.event.clear()
                # The cap is a safety net only: every change to the gate wakes whom it concerns.
                timeout = MAX_IDLE_S if wake_at is None else min(MAX_IDLE_S, max(0.0, wake_at - now) + 0.001)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter.event.wait(), timeout)
                if ticket.permit is None:
                    with self._lock:
                        self._dispatch(gate, time.monotonic())
        except BaseException:
            with self._lock:
                if ticket.permit is not None:
                    gate.release(ticket.permit, Outcome.FAILED, time.monotonic())
                else:
                    gate.withdraw(ticket)
                self._dispatch(gate, time.monotonic())
            raise

    async def release(self, held: Held, report: Report) -> None:
        assert isinstance(held, Permit)
        self.release_now(held, report)

    def release_now(self, permit: Permit, report: Report) -> None:
        with self._lock:
            gate = self._gates[permit.ticket.key]
            now = time.monotonic()
            gate.release(
                permit, report.outcome, now, tokens_used=report.tokens_used, retry_after=report.retry_after
            )
            self._dispatch(gate, now)

    def snapshot(self) -> dict[str, dict[str, object]]:
        with self._lock:
            return {key: gate.snapshot() for key, gate in self._gates.items()}
