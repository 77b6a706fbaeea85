"""Runners' leased shares of a provider key's limits, on SQLite and PostgreSQL."""

from __future__ import annotations

from dbhelpers import Store, at
from sqlalchemy import func, select

from planexe.llm.permits.limits import ProviderLimits
from planexe_api.db.models import LlmPermitShare
from planexe_api.db.repo_permit_shares import Usage, rebalance, split

LIMITS = ProviderLimits(max_in_flight=10, requests_per_minute=100)
LEASE_S, WINDOW_S = 30.0, 61.0


def renew(
    store: Store, worker: str, usage: Usage, now: float, limits: ProviderLimits = LIMITS
) -> ProviderLimits:
    with store.write() as session:
        return rebalance(
            session, key="k", worker_id=worker, limits=limits, usage=usage, now=at(now), lease_s=LEASE_S,
            window_s=WINDOW_S,
        )  # fmt: skip


def held(store: Store) -> tuple[int, int]:
    with store.read() as session:
        row = session.execute(
            select(func.sum(LlmPermitShare.in_flight), func.sum(LlmPermitShare.requests))
        ).one()
    return int(row[0] or 0), int(row[1] or 0)


def test_split_is_by_demand_in_whole_units() -> None:
    assert split(10, {"a": 1, "b": 1}, "a") == 5
    assert split(10, {"a": 3, "b": 1}, "a") == 8  # 7.5 rounds up: the larger remainder
    assert split(10, {"a": 3, "b": 1}, "b") == 2
    assert split(3, {"a": 1, "b": 1, "c": 1}, "c") == 1
    assert split(10, {"a": 0, "b": 5}, "a") == 0


def test_a_newcomer_grows_only_into_what_the_others_release(store: Store) -> None:
    # Alone, a runner may use everything.
    alone = renew(store, "a", Usage(in_flight=10, requests=60, tokens=0, demand=30), 0)
    assert (alone.max_in_flight, alone.requests_per_minute, alone.tokens_per_minute) == (10, 100, None)
    # A second runner with as much demand is due half, but "a" still holds all of it.
    assert renew(store, "b", Usage(0, 0, 0, demand=30), 1).max_in_flight == 0
    # "a" shrinks to its half at once, and holds what it still uses: 10 in flight, 60 requests.
    shrunk = renew(store, "a", Usage(10, 60, 0, demand=30), 2)
    assert (shrunk.max_in_flight, shrunk.requests_per_minute) == (5, 50)
    assert held(store) == (10, 60)
    assert renew(store, "b", Usage(0, 0, 0, 30), 3).max_in_flight == 0
    # Its calls end: "b" takes its half of the calls, and of the requests what "a" has not used.
    renew(store, "a", Usage(4, 60, 0, 30), 4)
    grown = renew(store, "b", Usage(0, 0, 0, 30), 5)
    assert (grown.max_in_flight, grown.requests_per_minute) == (5, 40)
    assert held(store)[0] <= 10 and held(store)[1] <= 100


def test_a_dead_runners_calls_stop_counting_after_a_lease_and_its_requests_a_window_later(
    store: Store,
) -> None:
    renew(store, "a", Usage(10, 100, 0, demand=10), 0)
    assert renew(store, "b", Usage(0, 0, 0, 5), 1).max_in_flight == 0
    later = renew(store, "b", Usage(0, 0, 0, 5), LEASE_S + 1)  # "a" never renewed
    assert (later.max_in_flight, later.requests_per_minute) == (10, 0)
    gone = renew(store, "b", Usage(0, 0, 0, 5), LEASE_S + WINDOW_S + 1)
    assert gone.requests_per_minute == 100
    with store.read() as session:
        assert session.scalars(select(LlmPermitShare.worker_id)).all() == ["b"]
