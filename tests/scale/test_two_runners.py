"""Twenty plans on two worker replicas: all complete, both share the load, no plan ever runs twice at once."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import pytest
from scalehelpers import Census, Cluster, check_runs_do_not_interleave, owners, runs

from planexe.plan.dag import ALL_TASKS

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PLANS = 20


def run_twenty(
    make_cluster: Callable[..., Cluster], workers: int
) -> tuple[float, list[str], Cluster, Census]:
    cluster = make_cluster(f"runners{workers}")
    api = cluster.api()
    started = [cluster.worker(f"w{i}", PLANEXE_MAX_CONCURRENT_PLANS="2") for i in range(workers)]
    cluster.wait_workers(*started)
    with Census(cluster.root) as census:
        t0 = time.monotonic()
        ids = [
            api.submit(prompt=f"Plan {i}: open a bicycle repair shop in town {i}")["id"] for i in range(PLANS)
        ]
        cluster.wait_all(ids, ("completed", "failed", "cancelled"), timeout=240)
        elapsed = time.monotonic() - t0
    return elapsed, ids, cluster, census


def test_twenty_plans_on_two_runners_complete_once_each_and_share_the_load(make_cluster) -> None:
    elapsed, ids, cluster, census = run_twenty(make_cluster, workers=2)
    print(
        f"\nthroughput runners=2 plans={PLANS} seconds={elapsed:.1f} plans_per_min={PLANS * 60 / elapsed:.1f}"
    )
    plans = [cluster.plan(i) for i in ids]
    assert [p.status for p in plans] == ["completed"] * PLANS, [
        (p.id, p.status, p.error_message) for p in plans
    ]
    assert census.samples > 100
    assert census.overlaps == [], f"plans with two live pipeline processes at once: {census.overlaps[:5]}"
    assert 2 <= census.max_total <= 4  # two runners, two plans each
    finished_by: Counter[str] = Counter()
    for plan in plans:
        events = cluster.events(plan.id)
        check_runs_do_not_interleave(plan.id, events)
        assert runs(events)[-1] == plan.fencing_token
        assert [e["kind"] for e in events].count("plan_finished") == 1
        assert sum(e["kind"] == "task_succeeded" for e in events) == len(ALL_TASKS)
        finished_by[owners(events)[-1]] += 1
    assert len(finished_by) == 2 and min(finished_by.values()) >= 3, finished_by


def test_throughput_of_one_runner_on_the_same_twenty_plans(make_cluster) -> None:
    elapsed, ids, cluster, census = run_twenty(make_cluster, workers=1)
    print(
        f"\nthroughput runners=1 plans={PLANS} seconds={elapsed:.1f} plans_per_min={PLANS * 60 / elapsed:.1f}"
    )
    assert [cluster.plan(i).status for i in ids] == ["completed"] * PLANS
    assert census.overlaps == []
    assert census.max_total <= 2
