"""The ETA: remaining critical path times observed latency, a range that narrows, honest without data."""

from __future__ import annotations

from planexe_api.services.eta import MIN_CALLS, estimate
from planexe_api.services.plan_dag import DagTask, PlanDag
from planexe_api.services.plan_trace import PlanTrace


def _dag() -> PlanDag:
    # a (1 round) -> b (2 rounds) -> d (1); a -> c (1) -> d. Longest: a, b, d = 4 rounds.
    spec = {"a": ((), 1), "b": (("a",), 2), "c": (("a",), 1), "d": (("b", "c"), 1)}
    dependents = {n: tuple(m for m, (deps, _) in spec.items() if n in deps) for n in spec}
    tasks = tuple(
        DagTask(n, n.upper(), r, r, False, deps, dependents[n], n in "abd", f"{n}.json")
        for n, (deps, r) in spec.items()
    )
    return PlanDag("full", 4, tasks, ("a", "b", "d"), 4)


def _trace(*events: tuple[str, dict]) -> PlanTrace:
    trace = PlanTrace()
    for seq, (kind, data) in enumerate(events, start=1):
        trace.apply(seq, kind, data)
    return trace


def _calls(n: int, seconds: float, task: str = "a", t: float = 100.0) -> list[tuple[str, dict]]:
    return [("llm_call", {"task": task, "outcome": "ok", "duration_s": seconds, "ts": t}) for _ in range(n)]


def test_no_estimate_until_enough_calls_have_answered() -> None:
    trace = _trace(("task_started", {"task": "a", "ts": 100.0}), *_calls(MIN_CALLS - 1, 3.0))
    eta = estimate(_dag(), trace, "running", now=101.0)
    assert eta is not None and eta.remaining_s is None and eta.remaining_rounds == 4
    assert f"needs {MIN_CALLS} answered LLM calls" in eta.basis
    assert estimate(_dag(), trace, "completed", now=101.0) is None


def test_remaining_path_times_median_latency_minus_time_spent() -> None:
    trace = _trace(("task_started", {"task": "a", "ts": 100.0}), *_calls(5, 3.0))
    # a has run 1 s of its 3 s round: 2 + b 6 + d 3.
    eta = estimate(_dag(), trace, "running", now=101.0)
    assert eta is not None and eta.remaining_s == 11.0 and eta.seconds_per_call == 3.0
    # a done, b running for 5 s of its 6: 1 + d 3; c is not on the longest way any more.
    trace = _trace(
        ("task_started", {"task": "a", "ts": 100.0}),
        *_calls(5, 3.0),
        ("task_succeeded", {"task": "a", "ts": 103.0}),
        ("task_started", {"task": "b", "ts": 103.0}),
        ("task_started", {"task": "c", "ts": 103.0}),
    )
    eta = estimate(_dag(), trace, "running", now=108.0)
    assert eta is not None and eta.remaining_s == 4.0 and eta.remaining_rounds == 3


def test_the_range_narrows_as_the_plan_runs() -> None:
    latencies = [1.0, 2.0, 2.0, 3.0, 6.0]
    calls = [("llm_call", {"task": "a", "outcome": "ok", "duration_s": s, "ts": 100.0}) for s in latencies]
    early = estimate(_dag(), _trace(*calls), "running", now=100.0)
    late = estimate(
        _dag(),
        _trace(*calls, *[("task_succeeded", {"task": n, "ts": 110.0}) for n in "abc"]),
        "running",
        now=110.0,
    )
    assert early is not None and late is not None
    assert (
        early.low_s is not None
        and early.high_s is not None
        and late.low_s is not None
        and late.high_s is not None
    )
    assert early.low_s <= early.remaining_s <= early.high_s  # type: ignore[operator]
    assert (late.high_s - late.low_s) < (early.high_s - early.low_s)
    assert late.remaining_rounds == 1


def test_failed_calls_do_not_count_as_latency() -> None:
    failed = [("llm_call", {"task": "a", "outcome": "http_500", "duration_s": 30.0}) for _ in range(5)]
    eta = estimate(_dag(), _trace(*failed), "running", now=0.0)
    assert eta is not None and eta.calls_observed == 0 and eta.remaining_s is None
