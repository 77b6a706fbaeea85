"""Permits from the runner's broker, for a pipeline run by the service.

One Unix-socket connection per process, shared by every step thread and its event
loop: requests are written under a lock, a reader thread delivers grants through
each waiter's own loop. A forked step process (``PLANEXE_TASK_ISOLATION=process``)
opens its own connection, so its permits die with it.

If the broker cannot be reached, or goes away mid-run (the runner is stopping),
the calls fall back to this process's own permits (``LocalPermits``): the plan goes
on with limits that hold within it, rather than stopping.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from planexe.llm.permits import protocol
from planexe.llm.permits.local import LocalPermits
from planexe.llm.permits.types import Held, PermitRequest, Report
from planexe.log import get_logger

log = get_logger(__name__)


class BrokerLost(ConnectionError):
    """The permit broker closed the connection."""


class BrokerPermit:
    __slots__ = ("conn", "ident", "level")

    def __init__(self, ident: int, level: int, conn: _Connection) -> None:
        self.ident = ident
        self.level = level
        self.conn = conn


class _Pending:
    __slots__ = ("event", "level", "loop")

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.event = asyncio.Event()
        self.level: int | None = None

    def wake(self) -> None:
        with contextlib.suppress(RuntimeError):  # its loop has closed
            self.loop.call_soon_threadsafe(self.event.set)


class _Connection:
    def __init__(self, path: Path, plan: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.connect(str(path))
        except OSError:
            self.sock.close()
            raise
        self.lock = threading.Lock()
        self.pending: dict[int, _Pending] = {}
        self.ids = itertools.count(1)
        self.lost = False
        self.send({"op": "hello", "plan": plan})
        self.reader = threading.Thread(target=self._read, name="permit-broker-reader", daemon=True)
        self.reader.start()

    def send(self, message: dict[str, Any]) -> None:
        data = protocol.encode(message)
        with self.lock:
            if self.lost:
                raise BrokerLost("the permit broker is gone")
            try:
                self.sock.sendall(data)
            except OSError as exc:
                self.lost = True
                raise BrokerLost(str(exc)) from exc

    def close(self) -> None:
        with self.lock:
            self.lost = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.reader.join(5)
        self.sock.close()

    def _read(self) -> None:
        try:
            with self.sock.makefile("rb") as stream:
                for line in stream:
                    self._deliver(protocol.decode(line))
        except (OSError, ValueError):
            pass
        finally:
            with self.lock:
                self.lost = True
                waiting = list(self.pending.values())
            for pending in waiting:
                pending.wake()

    def _deliver(self, message: dict[str, Any]) -> None:
        if message["op"] != "grant":
            return
        with self.lock:
            pending = self.pending.get(int(message["id"]))
            if pending is not None:
                pending.level = int(message.get("level") or 1)
        if pending is not None:
            pending.wake()


class BrokerPermits:
    def __init__(self, path: Path, plan: str) -> None:
        self.path = path
        self.plan = plan
        self.fallback = LocalPermits()
        self._conn: _Connection | None = None
        self._pid = 0
        self._lock = threading.Lock()
        self._warned = False

    def _connection(self) -> _Connection | None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid() and not self._conn.lost:
                return self._conn
            if self._conn is not None and self._pid == os.getpid():
                return None  # lost: stay on the fallback rather than reconnect to a stopping runner
            try:
                self._conn, self._pid = _Connection(self.path, self.plan), os.getpid()
            except OSError as exc:
                self._warn("permit_broker_unreachable", str(exc))
                self._conn, self._pid = None, 0
                return None
            return self._conn

    def close(self) -> None:
        """Give back everything held (the broker releases a closed connection's permits)."""
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None and self._pid == os.getpid():
            conn.close()

    def _warn(self, event: str, error: str) -> None:
        if not self._warned:
            self._warned = True
            log.warning(event, socket=str(self.path), error=error, fallback="this plan's own limits")

    async def acquire(self, request: PermitRequest) -> Held:
        conn = self._connection()
        if conn is None:
            return await self.fallback.acquire(request)
        pending = _Pending()
        ident = next(conn.ids)
        with conn.lock:
            conn.pending[ident] = pending
        try:
            conn.send(
                {
                    "op": "acquire",
                    "id": ident,
                    "key": request.key,
                    "limits": request.limits.as_dict(),
                    "slack": request.slack,
                    "tokens": request.tokens,
                    "since": request.since or time.monotonic(),
                }
            )
            await pending.event.wait()
            if pending.level is None:
                raise BrokerLost("the permit broker is gone")
            return BrokerPermit(ident, pending.level, conn)
        except BrokerLost as exc:
            self._warn("permit_broker_lost", str(exc))
            with conn.lock:
                conn.pending.pop(ident, None)
            return await self.fallback.acquire(request)
        except BaseException:
            with conn.lock:
                conn.pending.pop(ident, None)
            with contextlib.suppress(BrokerLost):
                conn.send({"op": "cancel", "id": ident})
            raise

    async def release(self, held: Held, report: Report) -> None:
        if not isinstance(held, BrokerPermit):
            await self.fallback.release(held, report)
            return
        with held.conn.lock:
            held.conn.pending.pop(held.ident, None)
        with contextlib.suppress(BrokerLost):  # a lost broker has released everything already
            held.conn.send(
                {
                    "op": "release",
                    "id": held.ident,
                    "outcome": report.outcome.value,
                    "tokens": report.tokens_used,
                    "retry_after": report.retry_after,
                }
            )
