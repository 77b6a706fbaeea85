"""A runner killed or paused mid-plan: another runner takes the plan over from the database alone."""

from __future__ import annotations

import shutil
import signal
import time

import pytest
from scalehelpers import (
    HEARTBEAT_S,
    LEASE_S,
    Cluster,
    alive,
    check_runs_do_not_interleave,
    kill9,
    llm_env,
    owners,
    pid,
    pipeline_processes,
    roots,
    runs,
    signal_group,
    task_names,
    wait_gone,
)

from planexe.plan.dag import ALL_TASKS
from planexe.testing.llm_server import LLMServer
from planexe.testing.service import Service

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CANCEL_GRACE_S = 2.0  # PLANEXE_CANCEL_GRACE_S set by planexe.testing.service.service_env
TERMINAL = ("completed", "failed", "cancelled")
ALL_STEPS = {cls.step_name() for cls in ALL_TASKS}


def start_plan_on_one_of_two(
    cluster: Cluster, done: int
) -> tuple[str, int, Service, Service, dict[int, str]]:
    """API and two workers; one plan, running, with ``done`` tasks finished. Returns (plan, token, owner, other, ids)."""
    api = cluster.api()
    a, b = cluster.worker("a"), cluster.worker("b")
    ids = cluster.wait_workers(a, b)
    plan_id = api.submit()["id"]
    plan = cluster.wait_plan(plan_id, lambda p: p.progress_done >= done or p.status in TERMINAL, timeout=90)
    assert plan.status == "running", plan
    owner = a if ids[pid(a)] == plan.lease_owner else b
    other = b if owner is a else a
    return plan_id, plan.fencing_token, owner, other, ids


def the_child(cluster: Cluster, runner: Service, plan_id: str) -> int:
    found = [c for c in roots(pipeline_processes(cluster.runs_dir(runner))) if c.plan_id == plan_id]
    assert len(found) == 1 and found[0].ppid == pid(runner), found
    return found[0].pid


def test_kill_9_runner_then_the_other_takes_over_and_reuses_finished_tasks(
    make_cluster, llm: LLMServer
) -> None:
    llm.configure(latency="fixed:0.05")
    cluster = make_cluster("kill9", **llm_env(llm))
    plan_id, token, owner, other, ids = start_plan_on_one_of_two(cluster, done=12)
    child = the_child(cluster, owner, plan_id)
    owner_runs = cluster.runs_dir(owner)

    killed_at = time.monotonic()
    kill9(owner)
    # The pipeline has its own session, so the kill did not reach it: PDEATHSIG did, and its forks.
    died_s, left = wait_gone(owner_runs, timeout=5)
    assert left == [], f"the pipeline (pid {child}) outlived its runner: {left}"
    shutil.rmtree(owner_runs)  # the machine is gone, its disk with it

    other_id = ids[pid(other)]
    cluster.wait_plan(plan_id, lambda p: p.lease_owner == other_id, timeout=LEASE_S + HEARTBEAT_S + 20)
    takeover_s = time.monotonic() - killed_at
    print(
        f"\nfailover kill9 takeover_s={takeover_s:.2f} child_gone_s={died_s:.2f} lease_s={LEASE_S} heartbeat_s={HEARTBEAT_S}"
    )
    # The lease runs out at most LEASE_S after the last renewal; the next sweep (every heartbeat) requeues it.
    assert takeover_s <= LEASE_S + HEARTBEAT_S + 1.5

    plan = cluster.wait_plan(plan_id, lambda p: p.status in TERMINAL, timeout=120)
    assert plan.status == "completed", plan.error_message
    assert (plan.attempt, plan.fencing_token) == (2, token + 1)
    events = cluster.events(plan_id)
    check_runs_do_not_interleave(plan_id, events)
    assert runs(events) == [token, token + 1]
    assert owners(events) == [ids[pid(owner)], other_id]
    done_first = task_names(events, "task_succeeded", token)
    started_second = task_names(events, "task_started", token + 1)
    assert len(done_first) >= 12
    assert started_second and started_second.isdisjoint(done_first)
    assert done_first | task_names(events, "task_succeeded", token + 1) == ALL_STEPS
    # Everything the first run finished came back from plan_files onto the new machine's disk.
    restored = [e["restored_files"] for e in events if e["kind"] == "plan_running"][-1]
    assert restored == len(done_first)
    assert {f"{task}.json" for task in done_first} <= cluster.file_names(plan_id)
    new_run_dir = cluster.runs_dir(other) / plan_id
    assert {cls.output_filename() for cls in ALL_TASKS} <= {p.name for p in new_run_dir.iterdir()}
    recovered = [e for e in events if e["kind"] == "plan_recovered"]
    assert [(e["outcome"], e["previous_owner"]) for e in recovered] == [("requeued", ids[pid(owner)])]


def test_paused_runner_loses_the_plan_stops_its_child_and_writes_nothing_more(
    make_cluster, llm: LLMServer
) -> None:
    llm.configure(latency="fixed:0.05")
    cluster = make_cluster("pause", **llm_env(llm))
    plan_id, token, owner, other, ids = start_plan_on_one_of_two(cluster, done=8)
    child = the_child(cluster, owner, plan_id)
    other_id = ids[pid(other)]

    paused_at = time.monotonic()
    signal_group(child, signal.SIGSTOP)
    signal_group(pid(owner), signal.SIGSTOP)
    try:
        cluster.wait_plan(plan_id, lambda p: p.lease_owner == other_id, timeout=LEASE_S + HEARTBEAT_S + 20)
        takeover_s = time.monotonic() - paused_at
        # Let the new run get going, so anything the old one wrote after waking would interleave.
        deadline = time.monotonic() + 30
        while token + 1 not in runs(cluster.events(plan_id)) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        signal_group(pid(owner), signal.SIGCONT)
        signal_group(child, signal.SIGCONT)
    resumed_at = time.monotonic()
    stopped_s, left = wait_gone(cluster.runs_dir(owner), timeout=HEARTBEAT_S + CANCEL_GRACE_S + 5)
    print(f"\nfailover pause takeover_s={takeover_s:.2f} old_child_stopped_s={stopped_s:.2f}")
    assert left == [], "the resumed runner kept its child running after losing the lease"
    assert stopped_s <= HEARTBEAT_S + CANCEL_GRACE_S + 1.5
    assert alive(owner)
    assert "lease_lost" in owner.log_path.read_text()

    plan = cluster.wait_plan(plan_id, lambda p: p.status in TERMINAL, timeout=120)
    assert plan.status == "completed", plan.error_message
    assert plan.fencing_token == token + 1
    events = cluster.events(plan_id)
    check_runs_do_not_interleave(plan_id, events)
    assert runs(events) == [token, token + 1]
    assert owners(events)[-1] == other_id
    recovered_seq = next(e["seq"] for e in events if e["kind"] == "plan_recovered")
    late = [e for e in events if e.get("attempt") == token and e["seq"] > recovered_seq]
    assert late == [], "the old owner wrote after losing the plan"
    assert [e["kind"] for e in events].count("plan_finished") == 1
    assert time.monotonic() - resumed_at < 120
