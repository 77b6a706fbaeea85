"""The permit gate of one provider key: who may call now, and what the provider's answers teach.

A pure state machine (the caller passes the time and holds any lock): the
in-process permits (``local.py``) and the runner's broker (``broker.py``) drive
the same gate, so each rule lives here once:

- a call is granted when nothing outranks it, the key is not cooling down after a
  refusal, fewer than the adaptive limit (and the configured or leased share) are in
  flight, and the requests and tokens of the last minute leave room for it;
- waiting calls are served by rank (a plan's rank, then the step's slack in rounds),
  then by when they first asked, so a refused call keeps its place; a call that has
  waited ``starvation_s`` goes before every rank, so no plan starves;
- the head of the queue is never overtaken by a smaller call behind it (a large
  request would otherwise wait forever for token room);
- a refusal cools the whole key down (for its Retry-After, and at least for a backoff
  that doubles per refusal in a row) and lowers the adaptive limit; a success raises it.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from planexe.llm.permits.adaptive import AdaptiveConcurrency
from planexe.llm.permits.limits import WINDOW_MARGIN_S, WINDOW_S, ProviderLimits
from planexe.llm.permits.window import Entry, SlidingWindow

UNLIMITED_IN_FLIGHT = 1024  # the adaptive limit's ceiling when none is configured
STARVATION_S = 60.0  # a call waiting this long goes before every rank
REFUSAL_BACKOFF_S = 0.25  # cool-down after a refusal without Retry-After; doubles per refusal in a row
MAX_COOLDOWN_S = 120.0  # a Retry-After longer than this is taken as this


class Outcome(StrEnum):
    OK = "ok"  # the provider answered (valid or not): it had room for the call
    REFUSED = "refused"  # 429, or another "too many": slow down
    FAILED = "failed"  # no answer (timeout, connection, 5xx) or not sent: says nothing about limits


_seq = itertools.count()


@dataclass(eq=False)
class Ticket:
    """A call that asks for a permit."""

    rank: tuple[float, ...]  # lower goes first: (plan rank..., slack rounds)
    since: float  # when the call first asked; a refused call asks again with the same value
    tokens: int = 0  # estimate of the call's prompt plus answer tokens
    key: str = ""  # the gate it waits at
    owner: Any = None  # who waits: the driver's business
    seq: int = field(default_factory=lambda: next(_seq))
    permit: Permit | None = None

    def order(self, now: float, starvation_s: float) -> tuple[Any, ...]:
        return (now - self.since < starvation_s, self.rank, self.since, self.seq)


@dataclass(eq=False)
class Permit:
    ticket: Ticket
    level: int  # calls in flight when it was granted, itself included
    epoch: int  # the adaptive limit's epoch at the grant
    granted_at: float
    request_entry: Entry | None = None
    token_entry: Entry | None = None
    released: bool = False


@dataclass
class GateStats:
    granted: int = 0
    refused: int = 0
    ok: int = 0
    max_in_flight: int = 0
    limit_drops: int = 0


class PermitGate:
    def __init__(
        self,
        limits: ProviderLimits,
        *,
        starvation_s: float = STARVATION_S,
        window_s: float = WINDOW_S + WINDOW_MARGIN_S,
        refusal_backoff_s: float = REFUSAL_BACKOFF_S,
    ) -> None:
        self.limits = limits
        self.share = limits  # what this gate may use: all of it, or a replica's leased part
        self.starvation_s = starvation_s
        self.refusal_backoff_s = refusal_backoff_s
        self.adaptive = AdaptiveConcurrency(
            limits.max_in_flight or UNLIMITED_IN_FLIGHT, configured=limits.max_in_flight is not None
        )
        self.requests = SlidingWindow(window_s)
        self.tokens = SlidingWindow(window_s)
        self.waiting: list[Ticket] = []
        self.in_flight = 0
        self.cooldown_until = 0.0
        self.refusals_in_a_row = 0
        self.last_success: float | None = None
        self.stats = GateStats()

    # ---- configuration ----
    def set_limits(self, limits: ProviderLimits) -> None:
        """New configured limits (a reloaded config); the share follows unless a coordinator sets it."""
        self.limits = limits
        self.share = limits
        self.adaptive.set_ceiling(limits.max_in_flight or UNLIMITED_IN_FLIGHT)

    def set_share(self, share: ProviderLimits) -> None:
        self.share = share

    @property
    def allowed_in_flight(self) -> int:
        share = self.share.max_in_flight
        return self.adaptive.allowed if share is None else min(share, self.adaptive.allowed)

    # ---- queue ----
    def enqueue(self, ticket: Ticket) -> None:
        self.waiting.append(ticket)

    def withdraw(self, ticket: Ticket) -> None:
        if ticket in self.waiting:
            self.waiting.remove(ticket)

    def head(self, now: float) -> Ticket | None:
        if not self.waiting:
            return None
        return min(self.waiting, key=lambda t: t.order(now, self.starvation_s))

    def ready_at(self, now: float, ticket: Ticket) -> float | None:
        """When ``ticket`` could be granted by the clock alone; None while in-flight calls must end first."""
        if self.in_flight >= self.allowed_in_flight:
            return None
        at = max(now, self.cooldown_until)
        rpm, tpm = self.share.requests_per_minute, self.share.tokens_per_minute
        if rpm is not None:
            at = max(at, self.requests.room_at(now, 1, max(0, rpm)) if rpm > 0 else math.inf)
        if tpm is not None and ticket.tokens:
            at = max(at, self.tokens.room_at(now, ticket.tokens, max(0, tpm)) if tpm > 0 else math.inf)
        return at

    def dispatch(self, now: float) -> list[Permit]:
        """Grant permits to the waiting calls that may go now, in order."""
        granted: list[Permit] = []
        while True:
            ticket = self.head(now)
            if ticket is None:
                return granted
            at = self.ready_at(now, ticket)
            if at is None or at > now:
                return granted
            self.waiting.remove(ticket)
            granted.append(self._grant(ticket, now))

    def next_wakeup(self, now: float) -> float | None:
        """When the head may become grantable by the clock alone (None: on a release, or nothing waits)."""
        ticket = self.head(now)
        if ticket is None:
            return None
        at = self.ready_at(now, ticket)
        return None if at is None or math.isinf(at) else at

    def _grant(self, ticket: Ticket, now: float) -> Permit:
        self.in_flight += 1
        permit = Permit(ticket, self.in_flight, self.adaptive.epoch, now)
        permit.request_entry = self.requests.add(now, 1)
        if ticket.tokens:
            permit.token_entry = self.tokens.add(now, ticket.tokens)
        ticket.permit = permit
        self.stats.granted += 1
        self.stats.max_in_flight = max(self.stats.max_in_flight, self.in_flight)
        return permit

    # ---- what the provider said ----
    def release(
        self,
        permit: Permit,
        outcome: Outcome,
        now: float,
        *,
        tokens_used: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        if permit.released:
            return
        permit.released = True
        self.in_flight -= 1
        if tokens_used is not None and permit.token_entry is not None:
            self.tokens.adjust(permit.token_entry, tokens_used)
        if outcome is Outcome.OK:
            self.stats.ok += 1
            self.refusals_in_a_row = 0
            self.last_success = now
            self.adaptive.on_success(permit.level)
        elif outcome is Outcome.REFUSED:
            self.stats.refused += 1
            # The refusals of one burst (calls granted before the limit dropped) count once.
            if self.adaptive.on_refused(permit.level, permit.epoch):
                self.stats.limit_drops += 1
                self.refusals_in_a_row += 1
            # Never earlier than the provider said, and longer with every refusal in a row: a
            # storm of 429s whose Retry-After is short must still slow every plan down.
            wait = max(
                retry_after or 0.0, self.refusal_backoff_s * 2 ** min(8, max(0, self.refusals_in_a_row - 1))
            )
            self.cooldown_until = max(self.cooldown_until, now + min(MAX_COOLDOWN_S, wait))

    def snapshot(self) -> dict[str, Any]:
        return {
            "in_flight": self.in_flight,
            "waiting": len(self.waiting),
            "limit": self.allowed_in_flight,
            "share": self.share.as_dict(),
            "granted": self.stats.granted,
            "refused": self.stats.refused,
            "max_in_flight": self.stats.max_in_flight,
            "limit_drops": self.stats.limit_drops,
        }
