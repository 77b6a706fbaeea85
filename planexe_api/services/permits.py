"""The runner's permits: its broker for all of its plans, and its leased part of each limit.

Every pipeline child of this runner asks the broker (a Unix socket handed down as
``PLANEXE_LLM_PERMIT_SOCKET``) before each LLM attempt, so a provider's limits and
the adaptive limit learnt from its refusals hold across the runner's plans, and
plans are served by rank: a higher plan priority first, then the older plan.

For a key with configured limits the runner holds only its leased share of them
(``repo_permit_shares``), rebalanced every ``REBALANCE_S`` and at once when a gate's
demand appears, so the limits hold across replicas too. A gate starts with no share
at all until its first rebalance; a runner that cannot renew its lease stops using
its share when the lease runs out (the other replicas take it over only then).
"""

from __future__ import annotations

import contextlib
import math
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import anyio
from anyio.abc import TaskGroup

from planexe.llm.permits.broker import PermitBroker
from planexe.llm.permits.gate import PermitGate
from planexe.llm.permits.limits import WINDOW_MARGIN_S, WINDOW_S, ProviderLimits
from planexe.log import get_logger
from planexe.settings import Settings
from planexe_api.db import repo_permit_shares
from planexe_api.db.errors import StoreError
from planexe_api.db.models import utcnow
from planexe_api.services.store import Store

log = get_logger(__name__)

REBALANCE_S = 0.5  # how often a runner renews its shares while it has work for a limited key
NO_SHARE = ProviderLimits(0, 0, 0)
SOCKET_ENV = "PLANEXE_LLM_PERMIT_SOCKET"


class RunnerPermits:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        worker_id: str,
        rank_of: Callable[[str], tuple[float, ...]],
    ) -> None:
        self.settings = settings
        self.store = store
        self.worker_id = worker_id
        # A short private directory (a Unix socket path may not exceed 107 bytes), made by the
        # broker at start (mode 0700) under an unguessable name.
        self.directory = Path(tempfile.gettempdir()) / f"planexe-permits-{uuid.uuid4().hex[:16]}"
        self.broker = PermitBroker(self.directory / "broker.sock", rank_of=rank_of)
        self.broker.on_change = self._on_change
        self.broker.on_new_gate = self._on_new_gate
        self._wake = anyio.Event()
        self._renewed_until: dict[str, float] = {}  # key -> time.monotonic() its lease runs out
        self._stopping = False
        self.log = log.bind(worker_id=worker_id)

    @property
    def child_env(self) -> dict[str, str]:
        return {SOCKET_ENV: str(self.broker.path)}

    async def start(self, tg: TaskGroup) -> None:
        await self.broker.start()
        tg.start_soon(self._rebalance_loop)

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        await self.broker.stop()
        try:
            await self.store.run(
                lambda s: repo_permit_shares.release_all(s, worker_id=self.worker_id), write=True
            )
        except StoreError as exc:
            self.log.warning("permit_shares_release_failed", error=str(exc))
        with contextlib.suppress(OSError):
            self.directory.rmdir()  # empty once the broker removed its socket

    def _on_new_gate(self, gate: PermitGate) -> None:
        if gate.limits.any:
            gate.set_share(NO_SHARE)  # nothing before this runner's first lease of the key
            self._wake.set()

    def _on_change(self, key: str) -> None:
        gate = self.broker.gates[key]
        if gate.limits.any and (gate.waiting and gate.in_flight >= gate.allowed_in_flight):
            self._wake.set()  # demand it has no share for: rebalance now, not at the next tick

    async def _rebalance_loop(self) -> None:
        while not self._stopping:
            with anyio.move_on_after(REBALANCE_S):
                await self._wake.wait()
            self._wake = anyio.Event()
            for key, gate in list(self.broker.gates.items()):
                if gate.limits.any and not self._stopping:
                    await self._rebalance(key, gate)

    async def _rebalance(self, key: str, gate: PermitGate) -> None:
        now = time.monotonic()
        usage = repo_permit_shares.Usage(
            in_flight=gate.in_flight,
            requests=gate.requests.total(now),
            tokens=gate.tokens.total(now),
            demand=gate.in_flight + len(gate.waiting),
        )
        lease_s = self.settings.lease_s
        try:
            share = await self.store.run(
                lambda s: repo_permit_shares.rebalance(
                    s,
                    key=key,
                    worker_id=self.worker_id,
                    limits=gate.limits,
                    usage=usage,
                    now=utcnow(),
                    lease_s=lease_s,
                    window_s=WINDOW_S + WINDOW_MARGIN_S,
                ),
                write=True,
            )
        except StoreError as exc:
            if time.monotonic() >= self._renewed_until.get(key, -math.inf):
                gate.set_share(NO_SHARE)  # the lease ran out: the others may take the share now
            self.log.warning("permit_share_renew_failed", error=str(exc))
            return
        # Stop granting at half the lease: calls granted before then have the other half to end
        # before the other replicas may count this share as free.
        self._renewed_until[key] = now + lease_s / 2
        gate.set_share(share)
        self.broker.dispatch(key)
