"""PLANEXE_LUIGI_SCHEDULER_URL: the pipeline children schedule their tasks on a real central luigid."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from scalehelpers import kill9, llm_env, owners, pid, signal_group, task_names, wait_gone

from planexe.plan.dag import ALL_TASKS
from planexe.testing.llm_server import LLMServer
from planexe.testing.service import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

TERMINAL = ("completed", "failed", "cancelled")
# luigid's defaults suit long batch jobs: a failed task is retried after 900 s, and only at
# luigid's prune, once a minute. Next to PlanExe it needs short values (docs/scaling.md).
LUIGID_CONFIG = """\
[scheduler]
retry_delay = 0.5
prune_on_get_work = true
"""


def failed_family(step: str | None) -> str:
    return next(cls.get_task_family() for cls in ALL_TASKS if cls.step_name() == step)


class Luigid:
    def __init__(self, url: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.url = url
        self.process = process
        self.log = log

    def api(self, method: str, **data: Any) -> Any:
        response = httpx.get(f"{self.url}/api/{method}", params={"data": json.dumps(data)}, timeout=10)
        response.raise_for_status()
        return response.json()["response"]

    def tasks_of(self, run_dir: Path, run: int) -> dict[str, dict[str, Any]]:
        """The scheduler's tasks of one run of one run directory, by family name."""
        tasks = self.api("task_list", limit=False).values()
        mine = {"run_dir": str(run_dir), "attempt": str(run)}
        return {t["name"]: t for t in tasks if t["params"] == mine}


@pytest.fixture
def luigid(tmp_path: Path) -> Iterator[Luigid]:
    port = free_port()
    config = tmp_path / "luigid.cfg"
    config.write_text(LUIGID_CONFIG)
    log = tmp_path / "luigid.log"
    (tmp_path / "luigid-logs").mkdir()  # luigid does not create it
    command = [
        str(Path(sys.executable).with_name("luigid")),
        "--address", "127.0.0.1",
        "--port", str(port),
        "--logdir", str(tmp_path / "luigid-logs"),
        "--state-path", str(tmp_path / "luigid-state.pickle"),
    ]  # fmt: skip
    env = {**os.environ, "LUIGI_CONFIG_PATH": str(config)}
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Luigid(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                server.api("task_list")
                break
            except httpx.HTTPError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"luigid did not start:\n{log.read_text()}") from None
                time.sleep(0.05)
        yield server
    finally:
        signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            signal_group(process.pid, signal.SIGKILL)
            process.wait()


def test_plan_runs_on_the_central_scheduler_and_survives_its_runners_death(
    make_cluster, luigid: Luigid, llm: LLMServer
) -> None:
    """Two machines whose run directories have the same path (as in a container image): the plan's
    Luigi tasks have the same run_dir on both, and luigid must not mix up the dead run's tasks
    (still running there, or done there but never shipped) with the new run's."""
    llm.configure(latency="fixed:0.05")
    cluster = make_cluster("luigid", PLANEXE_LUIGI_SCHEDULER_URL=luigid.url, **llm_env(llm))
    same_path = str(cluster.root / "runs")
    api = cluster.api()
    a, b = cluster.worker("a", PLANEXE_RUNS_DIR=same_path), cluster.worker("b", PLANEXE_RUNS_DIR=same_path)
    ids = cluster.wait_workers(a, b)
    plan_id = api.submit()["id"]
    first = cluster.wait_plan(plan_id, lambda p: p.progress_done >= 12 or p.status in TERMINAL, timeout=90)
    assert first.status == "running"
    owner, other = (a, b) if ids[pid(a)] == first.lease_owner else (b, a)
    run_dir = (Path(same_path) / plan_id).resolve()
    assert luigid.tasks_of(run_dir, first.fencing_token)  # the first run schedules on luigid

    kill9(owner)
    assert wait_gone(cluster.runs_dir(owner), timeout=5, plan_id=plan_id)[1] == []
    shutil.rmtree(run_dir)  # that machine's disk is gone
    plan = cluster.wait_plan(plan_id, lambda p: p.status in TERMINAL, timeout=120)
    assert plan.status == "completed", plan.error_message
    assert plan.lease_owner is None and plan.fencing_token == first.fencing_token + 1

    second = luigid.tasks_of(run_dir, plan.fencing_token)
    assert {name for name, t in second.items() if t["status"] == "DONE"} == {
        cls.get_task_family() for cls in ALL_TASKS
    }
    # What the new run executed, it executed on its own Luigi worker (named after the plan and token).
    started = task_names(cluster.events(plan_id), "task_started", plan.fencing_token)
    families = {cls.get_task_family() for cls in ALL_TASKS if cls.step_name() in started}
    luigi_worker = f"planexe-{plan_id}-r{plan.fencing_token}-{socket.gethostname()}"
    assert started and {second[f]["worker_running"] for f in families} == {luigi_worker}
    assert ids[pid(other)] in owners(cluster.events(plan_id))


def test_task_retry_limit_holds_on_the_central_scheduler(
    make_cluster, luigid: Luigid, llm: LLMServer
) -> None:
    """luigid would retry a failing task forever (its retry_count default is 999999999); PlanExe's
    tasks carry their own limit, so the task fails after its retries and the plan ends failed."""
    llm.configure(rate_500=1.0)
    try:
        cluster = make_cluster(
            "luigid-retry",
            PLANEXE_LUIGI_SCHEDULER_URL=luigid.url,
            PLANEXE_LLM_MAX_ATTEMPTS="1",
            **llm_env(llm),
        )
        api = cluster.api()
        worker = cluster.worker("w")
        cluster.wait_workers(worker)
        plan_id = api.submit()["id"]
        plan = cluster.wait_plan(plan_id, lambda p: p.status in TERMINAL, timeout=60)
    finally:
        llm.configure(rate_500=0.0)
    assert plan.status == "failed"
    events = cluster.events(plan_id)
    failed = [e["task"] for e in events if e["kind"] == "task_failed"]
    assert failed and plan.failed_task in failed
    starts = [e for e in events if e["kind"] == "task_started" and e["task"] == plan.failed_task]
    assert [e["task_attempt"] for e in starts] == [1, 2]  # DEFAULT_RETRY_COUNT = 2: one retry
    run_dir = (cluster.runs_dir(worker) / plan_id).resolve()
    assert (
        luigid.tasks_of(run_dir, plan.fencing_token)[failed_family(plan.failed_task)]["status"] == "DISABLED"
    )
