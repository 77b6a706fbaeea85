"""The permit broker: one set of gates for every pipeline process of a runner.

The runner starts it on its event loop; each pipeline child connects to its Unix
socket (``PLANEXE_LLM_PERMIT_SOCKET``) and asks for a permit before each HTTP
attempt, so the limits and the adaptive limit of a model hold across all plans of
the runner, and a refusal seen by one plan slows every plan down.

A connection's permits live and die with it: when a child exits or is killed, the
kernel closes its socket and the broker releases all it held at once, so a
``kill -9`` of a pipeline leaks nothing. Across replicas, a ``share`` callback lowers
what each gate may use to the part this runner holds (``planexe_api``'s lease of
provider capacity); the gate rules stay in ``gate.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from planexe.llm.permits import protocol
from planexe.llm.permits.gate import Outcome, Permit, PermitGate, Ticket
from planexe.llm.permits.limits import ProviderLimits
from planexe.log import get_logger

log = get_logger(__name__)

RankOf = Callable[[str], tuple[float, ...]]  # plan id -> its rank among plans (lower goes first)


class _Connection:
    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.plan = ""
        self.rank: tuple[float, ...] = (0.0,)
        self.tickets: dict[int, Ticket] = {}  # waiting or granted, by the client's id

    def send(self, message: dict[str, Any]) -> None:
        if not self.writer.is_closing():
            self.writer.write(protocol.encode(message))


class PermitBroker:
    def __init__(self, path: Path, *, rank_of: RankOf | None = None, **gate_options: float) -> None:
        self.path = path
        self.rank_of = rank_of or (lambda plan: (0.0,))
        self.gates: dict[str, PermitGate] = {}
        self.connections: set[_Connection] = set()
        self._gate_options = gate_options  # PermitGate's keyword arguments
        self._server: asyncio.AbstractServer | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.on_change: Callable[[str], None] | None = None  # a gate's demand changed (for the coordinator)
        self.on_new_gate: Callable[[PermitGate], None] | None = None  # e.g. to start it with no share

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # left by a runner that died: nobody listens on it
        self._server = await asyncio.start_unix_server(
            self._serve, path=str(self.path), limit=protocol.MAX_LINE
        )
        os.chmod(self.path, 0o600)
        log.info("permit_broker_started", socket=str(self.path))

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for connection in list(self.connections):
                connection.writer.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
        if self._timer is not None:
            self._timer.cancel()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def gate(self, key: str, limits: ProviderLimits) -> PermitGate:
        gate = self.gates.get(key)
        if gate is None:
            gate = self.gates[key] = PermitGate(limits, **self._gate_options)
            if self.on_new_gate is not None:
                self.on_new_gate(gate)
        elif gate.limits != limits:
            gate.set_limits(limits)
            if self.on_new_gate is not None:
                self.on_new_gate(gate)  # new limits: a new share too
        return gate

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return {key: gate.snapshot() for key, gate in self.gates.items()}

    # ---- connections ----
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = _Connection(writer)
        self.connections.add(connection)
        try:
            while True:
                try:
                    line = await reader.readline()
                except (ConnectionError, ValueError):  # reset, or a line past MAX_LINE
                    break
                if not line:
                    break
                try:
                    self._handle(connection, protocol.decode(line))
                except (ValueError, KeyError, TypeError) as exc:
                    log.warning("permit_message_invalid", plan_id=connection.plan, error=str(exc)[:200])
                    break
        finally:
            self.connections.discard(connection)
            self._drop(connection)
            writer.close()

    def _handle(self, connection: _Connection, message: dict[str, Any]) -> None:
        op = message["op"]
        if op == "hello":
            connection.plan = str(message.get("plan") or "")
            connection.rank = self.rank_of(connection.plan)
        elif op == "acquire":
            key = str(message["key"])
            gate = self.gate(key, protocol.limits_from(message.get("limits")))
            ticket = Ticket(
                rank=(*connection.rank, float(message.get("slack") or 0)),
                since=float(message.get("since") or time.monotonic()),
                tokens=int(message.get("tokens") or 0),
                key=key,
                owner=(connection, int(message["id"])),
            )
            connection.tickets[int(message["id"])] = ticket
            gate.enqueue(ticket)
            self._changed(key)
        elif op == "release":
            done = connection.tickets.pop(int(message["id"]), None)
            if done is not None and done.permit is not None:
                self.gates[done.key].release(
                    done.permit,
                    Outcome(message.get("outcome", "failed")),
                    time.monotonic(),
                    tokens_used=message.get("tokens"),
                    retry_after=message.get("retry_after"),
                )
                self._changed(done.key)
        elif op == "cancel":
            gone = connection.tickets.pop(int(message["id"]), None)
            if gone is not None:
                self._forget(gone)
                self._changed(gone.key)
        else:
            raise ValueError(f"unknown op {op!r}")

    def _forget(self, ticket: Ticket) -> None:
        gate = self.gates[ticket.key]
        if ticket.permit is not None:
            gate.release(ticket.permit, Outcome.FAILED, time.monotonic())
        else:
            gate.withdraw(ticket)

    def _drop(self, connection: _Connection) -> None:
        keys = set()
        for ticket in connection.tickets.values():
            self._forget(ticket)
            keys.add(ticket.key)
        if connection.tickets:
            log.info("permit_connection_closed", plan_id=connection.plan, returned=len(connection.tickets))
        connection.tickets.clear()
        for key in keys:
            self._changed(key)

    # ---- granting ----
    def _changed(self, key: str) -> None:
        self.dispatch(key)
        if self.on_change is not None:
            self.on_change(key)

    def dispatch(self, key: str) -> None:
        """Grant what the gate of ``key`` allows now, and arm the timer for what waits on the clock."""
        gate = self.gates[key]
        now = time.monotonic()
        for permit in gate.dispatch(now):
            self._grant(permit)
        self._arm()

    def _grant(self, permit: Permit) -> None:
        connection, ident = permit.ticket.owner
        connection.send({"op": "grant", "id": ident, "level": permit.level})

    def _arm(self) -> None:
        now = time.monotonic()
        wakeups = [w for gate in self.gates.values() if (w := gate.next_wakeup(now)) is not None]
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if wakeups:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(max(0.0, min(wakeups) - now) + 0.001, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        for key in list(self.gates):
            gate = self.gates[key]
            for permit in gate.dispatch(time.monotonic()):
                self._grant(permit)
        self._arm()
