"""Which ready task a free worker takes: the one with the longest way still to go."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from planexe.llm.config import HOSTED_CONCURRENCY
from planexe.pipeline.graph import remaining_rounds
from planexe.pipeline.lean_imports import OPTIONAL_MODULES, without_optional_modules
from planexe.pipeline.luigi_worker import LocalScheduler
from planexe.plan.dag import FINAL_TASK
from planexe.plan.graph_command import plan_stats
from planexe.testing.pipeline import child_env, events, make_run_dir, run_to_end


def test_remaining_rounds_count_the_longest_way_to_the_end() -> None:
    stats = plan_stats("full", HOSTED_CONCURRENCY)
    remaining = remaining_rounds(FINAL_TASK, "full", HOSTED_CONCURRENCY)
    assert remaining[stats.critical_path[0]] == stats.critical_rounds
    assert remaining["report"] == 0
    assert remaining["executive_summary"] == 1
    # Both branch from the project plan; only the team lies on the way to the digest's review.
    assert remaining["find_team"] > remaining["swot"]
    by_name = {cls.step_name(): cls for cls in stats.tasks}
    for name, rounds in remaining.items():
        for dep in by_name[name].depends_on:
            assert remaining[dep.step_name()] >= rounds + dep.planned_rounds("full", HOSTED_CONCURRENCY)


def test_one_worker_always_starts_the_ready_task_with_most_rounds_left(tmp_path: Path) -> None:
    # One worker makes the choice visible: every start picks among all ready tasks.
    run_dir = make_run_dir(tmp_path, detail="fast")
    assert run_to_end(run_dir, "--workers", "1") == 0
    remaining = remaining_rounds(FINAL_TASK, "fast", HOSTED_CONCURRENCY)  # the offline provider runs at 16
    needs = {cls.step_name(): {d.step_name() for d in cls.depends_on} for cls in plan_stats("fast").tasks}
    done: set[str] = set()
    started: set[str] = set()
    choices = 0
    for event in events(run_dir):
        if event["kind"] == "task_started":
            ready = {n for n, deps in needs.items() if n not in started and deps <= done}
            assert remaining[event["task"]] == max(remaining[n] for n in ready), (event["task"], ready)
            choices += len(ready) > 1 and len({remaining[n] for n in ready}) > 1
            started.add(event["task"])
        elif event["kind"] == "task_succeeded":
            done.add(event["task"])
    assert started == set(needs)
    assert choices >= 5  # the order was a real choice, not forced by the dependencies


def test_the_pipeline_process_does_not_import_optional_integrations() -> None:
    code = "import sys, planexe.plan.__main__; print(sorted(m for m in {} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code.format(OPTIONAL_MODULES)],
        capture_output=True,
        text=True,
        env=child_env(),
        check=True,
    ).stdout
    assert out.strip() == "[]"


def test_blocked_modules_import_again_after_the_block() -> None:
    name = "tabnanny"
    sys.modules.pop(name, None)
    with without_optional_modules((name,)), pytest.raises(ImportError):
        __import__(name)
    assert __import__(name).__name__ == name


def test_code_only_steps_run_in_the_pipeline_process_and_llm_steps_in_forks(tmp_path: Path) -> None:
    run_dir = make_run_dir(tmp_path, detail="fast")
    # LUIGI_WORKERS unset: 10 workers, so Luigi forks each LLM step in process isolation.
    assert run_to_end(run_dir, env={"PLANEXE_TASK_ISOLATION": "process"}) == 0
    evs = events(run_dir)
    main_pid = next(e["pid"] for e in evs if e["kind"] == "run_started")
    code_only = {cls.step_name() for cls in plan_stats("fast").tasks if cls.code_only()}
    assert {"setup", "consolidate_assumptions", "schedule", "plan_digest", "report"} <= code_only
    succeeded = {e["task"]: e["pid"] for e in evs if e["kind"] == "task_succeeded"}
    assert len(succeeded) == len(plan_stats("fast").tasks)
    for name, pid in succeeded.items():
        assert (pid == main_pid) == (name in code_only), name


def test_local_scheduler_prunes_at_most_once_per_interval() -> None:
    scheduler = LocalScheduler()
    pruned = []
    scheduler.prune = lambda: pruned.append(1)  # type: ignore[method-assign]
    for _ in range(5):
        scheduler.get_work(worker="w")
    assert len(pruned) == 1
    scheduler._next_prune = 0.0  # the interval has passed
    scheduler.get_work(worker="w")
    assert len(pruned) == 2
