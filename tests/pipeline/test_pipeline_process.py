"""The real pipeline process: full plans, resume after kill -9, SIGTERM, lock, workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from planexe.pipeline.exitcodes import ExitCode
from planexe.plan.dag import ALL_TASKS
from planexe.plan.final import SECTIONS
from planexe.testing.llm_server import LLMServer, llm_server
from planexe.testing.pipeline import events, log_records, make_run_dir, run_to_end, start_pipeline, wait_for

CALLS_BY_TASK = {cls.step_name(): cls for cls in ALL_TASKS}


def assert_report_has_every_section(run_dir: Path) -> None:
    text = (run_dir / "report.html").read_text()
    for cls in SECTIONS:
        assert f'id="{cls.step_name()}"' in text, cls.step_name()
    assert "Schedule (Gantt)" in text and "<svg" in text


def group_alive(pgid: int, settle_s: float = 5.0) -> list[int]:
    """Live (non-zombie) members of a process group, after letting a dying group settle."""
    deadline = time.monotonic() + settle_s
    while True:
        members = [
            p.pid
            for p in psutil.process_iter(["pid", "status"])
            if p.info["status"] != psutil.STATUS_ZOMBIE and _pgid(p.pid) == pgid
        ]
        if not members or time.monotonic() > deadline:
            return members
        time.sleep(0.05)


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


@pytest.fixture(scope="module")
def server() -> LLMServer:
    with llm_server(seed=11) as handle:
        yield handle


def llm_env(server: LLMServer, **extra: str) -> dict[str, str]:
    return {
        "PLANEXE_LLM_BASE_URL": server.base_url,
        "PLANEXE_LLM_MODEL": "test-model",
        "PLANEXE_LLM_TIMEOUT_S": "2",
        "PLANEXE_LLM_RETRY_BASE_DELAY_S": "0.01",
        "PLANEXE_LLM_RETRY_MAX_DELAY_S": "0.2",
        "PLANEXE_LLM_MAX_ATTEMPTS": "8",
        **extra,
    }


def test_full_offline_plan_completes_with_every_section(tmp_path: Path) -> None:
    run_dir = make_run_dir(tmp_path, detail="full")
    assert run_to_end(run_dir) == ExitCode.SUCCESS
    assert_report_has_every_section(run_dir)
    assert "Made offline" in (run_dir / "report.html").read_text()
    evs = events(run_dir)
    started = next(e for e in evs if e["kind"] == "run_started")
    finished = evs[-1]
    assert (started["total"], started["done"]) == (len(ALL_TASKS), 0)
    assert finished["kind"] == "run_finished" and finished["exit_code"] == 0
    assert {e["task"] for e in evs if e["kind"] == "task_succeeded"} == set(CALLS_BY_TASK)
    # Every output is an envelope that says it was made offline.
    for cls in ALL_TASKS:
        envelope = json.loads((run_dir / cls.output_filename()).read_text())
        assert envelope["offline"] is True
    # The child logged its effective Luigi configuration and worker count.
    records = log_records(run_dir)
    config = next(r for r in records if r.get("event") == "luigi_config")
    assert config["worker_timeout"] == 160
    assert (config["scheduler_retry_count"], config["scheduler_retry_delay"]) == (2, 3.0)
    assert config["worker_keep_alive"] is True
    assert [r["workers"] for r in records if r.get("event") == "workers"] == [10]


def test_fast_plan_survives_twenty_percent_faults(tmp_path: Path, server: LLMServer) -> None:
    server.configure(
        rate_429=0.04,
        rate_500=0.04,
        rate_malformed=0.04,
        rate_invalid=0.04,
        rate_hang=0.04,
        hang_s=5,
        retry_after_s=0.01,
    )
    server.reset_stats()
    try:
        run_dir = make_run_dir(tmp_path, detail="fast", prompt="Build a community solar farm in rural Kenya")
        assert run_to_end(run_dir, env=llm_env(server)) == ExitCode.SUCCESS
    finally:
        server.configure(rate_429=0, rate_500=0, rate_malformed=0, rate_invalid=0, rate_hang=0)
    assert_report_has_every_section(run_dir)
    assert "Made offline" not in (run_dir / "report.html").read_text()
    stats = server.stats()
    assert sum(stats["errors_injected"].values()) > 0
    evs = events(run_dir)
    ok_calls = [e for e in evs if e["kind"] == "llm_call" and e["outcome"] == "ok"]
    failed = [e for e in evs if e["kind"] == "llm_call" and e["outcome"] != "ok"]
    assert failed, "faults were injected, so some attempts must have failed and been retried"
    assert stats["completions_ok"] >= len(ok_calls)


ISOLATIONS = pytest.mark.parametrize("isolation", ["thread", "process"])


@ISOLATIONS
def test_kill_9_then_resume_repeats_no_finished_work(
    tmp_path: Path, server: LLMServer, isolation: str
) -> None:
    server.configure(latency="fixed:0.05")
    try:
        run_dir = make_run_dir(tmp_path, detail="fast")
        process = start_pipeline(run_dir, env=llm_env(server, PLANEXE_TASK_ISOLATION=isolation))
        wait_for(run_dir, lambda evs: sum(e["kind"] == "task_succeeded" for e in evs) >= 15)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        assert group_alive(process.pid) == []
        assert not (run_dir / "report.html").exists()
        assert run_to_end(run_dir, "--attempt", "2", env=llm_env(server)) == ExitCode.SUCCESS
    finally:
        server.configure(latency="fixed:0")
    first = [e for e in events(run_dir) if e.get("attempt") == 1]
    succeeded_before = {e["task"] for e in first if e["kind"] == "task_succeeded"}
    second = [e for e in events(run_dir) if e.get("attempt") == 2]
    started = next(e for e in second if e["kind"] == "run_started")
    # What the disk says was done (a kill can land between an output's rename
    # and its event, so the disk may know one task more than the events).
    done_before = set(started["done_tasks"])
    assert succeeded_before <= done_before and len(done_before) >= 15
    rerun = {e["task"] for e in second if e["kind"] == "task_started"}
    assert rerun == set(CALLS_BY_TASK) - done_before
    calls_second = sum(1 for e in second if e["kind"] == "llm_call" and e["outcome"] == "ok")
    expected = sum(CALLS_BY_TASK[t].planned_calls("fast") for t in rerun)
    assert calls_second == expected
    assert_report_has_every_section(run_dir)


@ISOLATIONS
def test_sigterm_stops_cleanly_and_the_next_run_resumes(
    tmp_path: Path, server: LLMServer, isolation: str
) -> None:
    server.configure(latency="fixed:0.05")
    try:
        run_dir = make_run_dir(tmp_path, detail="fast")
        process = start_pipeline(run_dir, env=llm_env(server, PLANEXE_TASK_ISOLATION=isolation))
        wait_for(run_dir, lambda evs: sum(e["kind"] == "task_succeeded" for e in evs) >= 8)
        os.killpg(process.pid, signal.SIGTERM)
        assert process.wait(timeout=30) == ExitCode.INTERRUPTED
        assert group_alive(process.pid) == []
        # A task killed mid-write may leave a temporary file, never a partial output.
        for output in run_dir.glob("*.json"):
            json.loads(output.read_text())
        assert events(run_dir)[-1]["status"] == "interrupted"
        # Steps stopped by the shutdown are not failures (a forked one is killed silently;
        # a thread's cancellation must not be recorded as one either).
        assert not [e for e in events(run_dir) if e["kind"] == "task_failed"]
        assert run_to_end(run_dir, "--attempt", "2", env=llm_env(server)) == ExitCode.SUCCESS
        assert not list(run_dir.glob(".*.tmp"))  # the next run cleans them up
    finally:
        server.configure(latency="fixed:0")


def test_second_process_on_the_same_run_dir_is_refused(tmp_path: Path, server: LLMServer) -> None:
    server.configure(latency="fixed:0.2")
    try:
        run_dir = make_run_dir(tmp_path, detail="fast")
        first = start_pipeline(run_dir, env=llm_env(server))
        wait_for(run_dir, lambda evs: any(e["kind"] == "run_started" for e in evs))
        second = subprocess.run(
            [sys.executable, "-m", "planexe.plan", "--run-dir", str(run_dir)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PLANEXE_LOG_FORMAT": "json"},
        )
        assert second.returncode == ExitCode.LOCKED
        assert f"already being run by process {first.pid}" in second.stderr
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    finally:
        server.configure(latency="fixed:0")


def test_a_pipeline_whose_supervisor_falls_silent_stops_itself(tmp_path: Path, server: LLMServer) -> None:
    """A frozen supervisor (SIGSTOP, a paused container) cannot stop its child, and another runner
    may own the plan one lease later: the child stops itself once its keep-alive falls silent."""
    server.configure(latency="fixed:0.2")
    try:
        run_dir = make_run_dir(tmp_path, detail="fast")
        args = ("--attempt", "3", "--keepalive-timeout", "1", "--stop-grace", "5")
        process = start_pipeline(run_dir, *args, env=llm_env(server), stdin=subprocess.PIPE)
        assert process.stdin is not None
        wait_for(run_dir, lambda evs: any(e["kind"] == "task_started" for e in evs))
        # Nothing is ever written to stdin: one second later the pipeline stops on its own.
        assert process.wait(timeout=60) == ExitCode.INTERRUPTED
        process.stdin.close()
        lost = [e for e in events(run_dir) if e["kind"] == "supervisor_lost"]
        assert [e["reason"] for e in lost] == ["silent"]
        assert events(run_dir)[-1]["status"] == "interrupted"
        assert group_alive(process.pid) == []
    finally:
        server.configure(latency="fixed:0")


def test_a_task_failure_exits_with_the_failing_task_and_reason(tmp_path: Path, server: LLMServer) -> None:
    server.configure(rate_500=1.0)
    try:
        run_dir = make_run_dir(tmp_path, detail="fast")
        env = llm_env(server, PLANEXE_LLM_MAX_ATTEMPTS="2")
        code = run_to_end(run_dir, "--scheduler-retry-delay", "0.1", env=env)
    finally:
        server.configure(rate_500=0)
    assert code == ExitCode.TASK_FAILED
    finished = events(run_dir)[-1]
    assert finished["kind"] == "run_finished"
    assert finished["failed_tasks"]
    assert "HTTP 500" in finished["reason"]
    # Luigi's scheduler retried the failed task once (retry count 2 = two runs).
    evs = events(run_dir)
    failed_task = finished["failed_tasks"][0]
    assert sum(1 for e in evs if e["kind"] == "task_started" and e["task"] == failed_task) == 2
    assert any(e["kind"] == "task_retried" and e["task"] == failed_task for e in evs)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = make_run_dir(tmp_path_factory.mktemp("done"), detail="fast")
    assert run_to_end(run_dir) == 0
    return run_dir


@pytest.mark.parametrize(
    ("env_value", "cli", "expected", "warning"),
    [
        (None, None, 10, None),  # unset is the normal case: no warning
        ("lots", None, 10, "not a whole number"),
        ("4", None, 4, "differs from the recommended 10"),
        ("10", None, 10, None),
        ("10", "4", 4, "differs from the recommended 10"),
    ],
)
def test_child_applies_worker_count_precedence(
    finished_run: Path, env_value: str | None, cli: str | None, expected: int, warning: str | None
) -> None:
    (finished_run / "log.txt").unlink(missing_ok=True)
    env = {"LUIGI_WORKERS": env_value} if env_value is not None else {}
    args = ["--workers", cli] if cli else []
    assert run_to_end(finished_run, *args, env=env) == 0
    records = log_records(finished_run)
    assert [r["workers"] for r in records if r.get("event") == "workers"] == [expected]
    warnings = [r["message"] for r in records if r.get("event") == "workers_setting"]
    if warning is None:
        assert warnings == []
    else:
        assert any(warning in w for w in warnings), warnings
