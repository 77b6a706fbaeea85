"""Each runner's leased part of a provider key's limits, so that they hold across replicas.

One row per (limit key, runner). A runner rebalances its row every fraction of a
second, in one transaction that holds the key's lock (an advisory lock on
PostgreSQL; SQLite's write lock serialises every write anyway):

- the capacity is split among the runners that want it, by demand (calls in flight
  plus waiting), and a runner takes its target only out of what the others do not
  hold: ``held = max(what it uses now, what it may use)`` is what each row says, and
  the rows never add up to more than the limit;
- a runner that shrinks lowers what it may use at once but keeps holding what it
  still uses (calls in flight, requests of the last window) until they end, so the
  others grow only into what is really free;
- a row that is not renewed stops counting: its calls in flight after
  ``in_flight_until`` (one lease), its requests and tokens a window later, when they
  have left every provider's per-minute window. A runner that cannot renew stops
  using its share at the same moment (``planexe_api.services.permit_shares``), so a
  share is never used by two runners at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Table, delete, select, text
from sqlalchemy.orm import Session

from planexe.llm.permits.limits import ProviderLimits
from planexe_api.db.models import LlmPermitShare
from planexe_api.db.upsert import insert


@dataclass(frozen=True)
class Usage:
    """What one runner's gate of a key uses now."""

    in_flight: int
    requests: int  # started in the current window
    tokens: int  # counted in the current window
    demand: int  # in flight plus waiting


def split(capacity: int, demands: dict[str, int], me: str) -> int:
    """``me``'s part of ``capacity``, in proportion to demand; whole units, largest remainders first."""
    total = sum(demands.values())
    if capacity <= 0 or demands.get(me, 0) <= 0 or total <= 0:
        return 0
    exact = {who: capacity * d / total for who, d in demands.items() if d > 0}
    parts = {who: int(x) for who, x in exact.items()}
    left = capacity - sum(parts.values())
    for who in sorted(exact, key=lambda w: (parts[w] - exact[w], w))[:left]:
        parts[who] += 1
    return parts[me]


def _lock(session: Session, key: str) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"llm_permits:{key}"})


def rebalance(
    session: Session,
    *,
    key: str,
    worker_id: str,
    limits: ProviderLimits,
    usage: Usage,
    now: datetime,
    lease_s: float,
    window_s: float,
) -> ProviderLimits:
    """Renew this runner's row of ``key`` and return what its gate may use until the next rebalance."""
    _lock(session, key)
    rows = session.scalars(
        select(LlmPermitShare).where(LlmPermitShare.limit_key == key, LlmPermitShare.worker_id != worker_id)
    ).all()
    flying = [r for r in rows if r.in_flight_until > now]
    windowed = [r for r in rows if r.window_until > now]
    demands = {r.worker_id: r.demand for r in flying}
    demands[worker_id] = usage.demand

    def allow(capacity: int | None, others_hold: int) -> int | None:
        if capacity is None:
            return None
        return max(0, min(split(capacity, demands, worker_id), capacity - others_hold))

    share = ProviderLimits(
        allow(limits.max_in_flight, sum(r.in_flight for r in flying)),
        allow(limits.requests_per_minute, sum(r.requests for r in windowed)),
        allow(limits.tokens_per_minute, sum(r.tokens for r in windowed)),
    )
    values = {
        "in_flight": max(usage.in_flight, share.max_in_flight or 0),
        "requests": max(usage.requests, share.requests_per_minute or 0),
        "tokens": max(usage.tokens, share.tokens_per_minute or 0),
        "demand": usage.demand,
        "in_flight_until": now + timedelta(seconds=lease_s),
        "window_until": now + timedelta(seconds=lease_s + window_s),
    }
    table = LlmPermitShare.__table__
    assert isinstance(table, Table)
    stmt = insert(session, table).values(limit_key=key, worker_id=worker_id, **values)
    session.execute(stmt.on_conflict_do_update(index_elements=["limit_key", "worker_id"], set_=values))
    # Rows of runners gone for good: nothing of theirs counts any more.
    session.execute(
        delete(LlmPermitShare).where(LlmPermitShare.limit_key == key, LlmPermitShare.window_until < now)
    )
    return share


def release_all(session: Session, *, worker_id: str) -> int:
    """A runner's clean stop: its calls are over, but its requests still count in the window."""
    rows = session.scalars(select(LlmPermitShare).where(LlmPermitShare.worker_id == worker_id)).all()
    for row in rows:
        row.in_flight = 0
        row.demand = 0
    return len(rows)
