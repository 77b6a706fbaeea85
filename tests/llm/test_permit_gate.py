"""The permit gate and its adaptive limit, driven with a clock of our own (no sleeping)."""

from __future__ import annotations

import pytest

from planexe.llm.permits.adaptive import FIRST_PROBE, SLOW_START, AdaptiveConcurrency
from planexe.llm.permits.gate import Outcome, PermitGate, Ticket
from planexe.llm.permits.limits import ProviderLimits
from planexe.llm.permits.window import SlidingWindow


def ticket(slack: int = 0, since: float = 0.0, tokens: int = 0, name: str = "") -> Ticket:
    return Ticket(rank=(float(slack),), since=since, tokens=tokens, owner=name)


def test_a_configured_limit_is_never_exceeded_and_a_release_lets_the_next_in() -> None:
    gate = PermitGate(ProviderLimits(max_in_flight=2))
    for i in range(5):
        gate.enqueue(ticket(name=f"c{i}"))
    first = gate.dispatch(0.0)
    assert [p.ticket.owner for p in first] == ["c0", "c1"]
    assert gate.dispatch(0.0) == []
    gate.release(first[0], Outcome.OK, 1.0)
    assert [p.ticket.owner for p in gate.dispatch(1.0)] == ["c2"]
    assert gate.stats.max_in_flight == 2


def test_critical_calls_go_first_then_the_oldest_and_starving_calls_before_all() -> None:
    gate = PermitGate(ProviderLimits(max_in_flight=1), starvation_s=30)
    gate.enqueue(ticket(slack=3, since=0.0, name="slack, oldest"))
    gate.enqueue(ticket(slack=0, since=5.0, name="critical, newer"))
    gate.enqueue(ticket(slack=0, since=2.0, name="critical, older"))
    order = []
    now = 10.0
    while gate.waiting:
        (permit,) = gate.dispatch(now)
        order.append(permit.ticket.owner)
        gate.release(permit, Outcome.OK, now)
    assert order == ["critical, older", "critical, newer", "slack, oldest"]
    # After starvation_s of waiting, a call goes before every rank.
    gate.enqueue(ticket(slack=9, since=0.0, name="starving"))
    gate.enqueue(ticket(slack=0, since=39.0, name="critical"))
    assert [p.ticket.owner for p in gate.dispatch(40.0)] == ["starving"]


def test_requests_per_minute_hold_in_any_window_and_say_when_the_next_fits() -> None:
    gate = PermitGate(ProviderLimits(requests_per_minute=3), window_s=60)
    for _ in range(4):
        gate.enqueue(ticket())
    granted = gate.dispatch(0.0)
    assert len(granted) == 3
    for permit in granted:
        gate.release(permit, Outcome.OK, 0.5)
    assert gate.dispatch(59.0) == []
    assert gate.next_wakeup(59.0) == 60.0
    assert len(gate.dispatch(60.0)) == 1


def test_tokens_per_minute_count_the_actual_usage_and_a_big_call_is_not_overtaken() -> None:
    gate = PermitGate(ProviderLimits(tokens_per_minute=1000), window_s=60)
    gate.enqueue(ticket(tokens=600, name="a"))
    (a,) = gate.dispatch(0.0)
    gate.release(a, Outcome.OK, 1.0, tokens_used=300)  # the estimate was high: 700 left
    gate.enqueue(ticket(tokens=900, since=1.0, name="big"))
    gate.enqueue(ticket(tokens=100, since=2.0, name="small"))
    assert gate.dispatch(2.0) == []  # the small one may not pass the big one at the head
    assert gate.next_wakeup(2.0) == 60.0
    assert [p.ticket.owner for p in gate.dispatch(60.0)] == ["big", "small"]


def test_a_refusal_cools_the_key_down_for_its_retry_after_and_lowers_the_limit() -> None:
    gate = PermitGate(ProviderLimits())
    for _ in range(SLOW_START + 2):
        gate.enqueue(ticket())
    granted = gate.dispatch(0.0)
    assert len(granted) == SLOW_START  # slow start: no limit configured
    gate.release(granted[-1], Outcome.REFUSED, 1.0, retry_after=2.0)
    # The other calls of the same burst are refused too, but say nothing new.
    for permit in granted[3:-1]:
        gate.release(permit, Outcome.REFUSED, 1.0)
    assert gate.stats.limit_drops == 1
    assert gate.allowed_in_flight == SLOW_START // 2
    assert gate.dispatch(2.9) == [] and gate.next_wakeup(2.9) == pytest.approx(3.0)
    assert len(gate.dispatch(3.0)) == 1  # 3 still in flight, limit 4


def test_a_refusal_without_retry_after_backs_off_more_each_time_in_a_row() -> None:
    gate = PermitGate(ProviderLimits())
    waits = []
    for _ in range(3):
        gate.enqueue(ticket())
        (permit,) = gate.dispatch(gate.cooldown_until)
        at = gate.cooldown_until
        gate.release(permit, Outcome.REFUSED, at)
        waits.append(round(gate.cooldown_until - at, 3))
    assert waits == [0.25, 0.5, 1.0]


def test_refusals_become_rare_against_a_provider_that_takes_two_at_once() -> None:
    """A simulated provider with room for 2: refused calls over time, in windows of 100 calls."""
    limit = AdaptiveConcurrency(1024, configured=False)
    in_flight: list[tuple[int, int]] = []  # (level, epoch) of calls the provider holds
    refusals_per_window = []
    refused = 0
    for call in range(1, 1201):
        while len(in_flight) >= limit.allowed:
            level, _ = in_flight.pop(0)
            limit.on_success(level)
        level = len(in_flight) + 1
        if level > 2:
            limit.on_refused(level, limit.epoch)
            refused += 1
        else:
            in_flight.append((level, limit.epoch))
        if call % 100 == 0:
            refusals_per_window.append(refused)
            refused = 0
    assert sum(refusals_per_window[2:]) <= 4, refusals_per_window
    assert limit.allowed == 2 or limit.allowed == 3


def test_a_probe_that_holds_moves_the_edge_up() -> None:
    limit = AdaptiveConcurrency(1024, configured=False)
    limit.on_refused(5, 0)
    assert (limit.allowed, limit.edge) == (2, 5)
    while limit.allowed < 4:
        limit.on_success(limit.allowed)
    for _ in range(FIRST_PROBE):
        limit.on_success(4)
    assert limit.allowed == 5  # probing
    for _ in range(FIRST_PROBE):
        limit.on_success(5)
    assert limit.edge == 6


def test_sliding_window_adjusts_only_what_it_still_counts() -> None:
    window = SlidingWindow(10)
    old = window.add(0.0, 5)
    new = window.add(5.0, 5)
    assert window.total(9.0) == 10
    assert window.total(10.0) == 5
    window.adjust(old, 50)  # gone already: no effect
    window.adjust(new, 2)
    assert window.total(11.0) == 2
