"""The service end to end: real uvicorn, real pipeline children, real signals, both databases."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psutil
import pytest

from planexe.plan.dag import ALL_TASKS
from planexe.plan.final import SECTIONS
from planexe.testing.llm_server import LLMServer, llm_server


def pipeline_pids(plan_id: str | None = None) -> list[int]:
    pids = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if proc.info["status"] == psutil.STATUS_ZOMBIE or "planexe.plan" not in cmd:
            continue
        if plan_id is None or plan_id in cmd:
            pids.append(proc.info["pid"])
    return pids


def wait_no_pipeline(plan_id: str, timeout: float = 10) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := pipeline_pids(plan_id)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def split_runs(stream: list[dict]) -> tuple[list[dict], list[dict]]:
    """The plan's events before and after its second pipeline run started."""
    events = [e["data"] for e in stream if e["event"] != "end"]
    starts = [i for i, e in enumerate(events) if e["kind"] == "run_started"]
    assert len(starts) == 2, [e["kind"] for e in events]
    runs = {events[i]["attempt"] for i in starts}
    assert len(runs) == 2, "each pipeline run must carry its own run number"
    return events[: starts[1]], events[starts[1] :]


@pytest.fixture(scope="module")
def llm() -> Iterator[LLMServer]:
    with llm_server(seed=5) as server:
        yield server


def llm_env(server: LLMServer) -> dict[str, str]:
    return {
        "PLANEXE_LLM_BASE_URL": server.base_url,
        "PLANEXE_LLM_MODEL": "test-model",
        "PLANEXE_LLM_TIMEOUT_S": "5",
    }


def test_submit_poll_report_and_event_stream(make_service) -> None:
    svc = make_service()
    created = svc.submit()
    assert created["status"] == "queued"
    assert created["links"]["report"] == f"/plans/{created['id']}/report"
    plan = svc.wait_status(created["id"])
    assert plan["status"] == "completed", plan
    assert plan["progress"] == {
        "done": len(ALL_TASKS),
        "total": len(ALL_TASKS),
        "percent": 100.0,
        "running_tasks": [],
    }
    assert plan["llm_usage"]["calls"] > 0 and plan["llm_usage"]["by_model"][0]["model"] == "offline"
    report = svc.http.get(f"/plans/{created['id']}/report")
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    for cls in SECTIONS:
        assert f'id="{cls.step_name()}"' in report.text
    files = svc.http.get(f"/plans/{created['id']}/files").json()
    assert {f["name"] for f in files} >= {cls.output_filename() for cls in ALL_TASKS} | {"report.html"}
    events = svc.events(created["id"])
    kinds = [e["event"] for e in events]
    assert kinds[0] == "plan_queued" and kinds[-1] == "end"
    assert "run_started" in kinds and kinds.count("task_succeeded") == len(ALL_TASKS)
    assert events[-1]["data"]["status"] == "completed"
    ids = [e["id"] for e in events[:-1]]
    assert ids == list(range(1, len(ids) + 1))
    # Resume the stream from the middle with Last-Event-ID.
    tail = svc.events(created["id"], after=ids[10])
    assert [e["id"] for e in tail[:-1]] == ids[11:]
    assert svc.http.get("/healthz").json()["running_children"] == 0
    assert svc.http.get("/readyz").json()["status"] == "ready"
    metrics = svc.http.get("/metrics").text
    assert 'planexe_plans{status="completed"} 1.0' in metrics
    assert "planexe_task_duration_seconds_count" in metrics


def test_kill_9_service_then_restart_completes_without_rerunning(make_service, llm: LLMServer) -> None:
    llm.configure(latency="fixed:0.1")
    try:
        svc = make_service(**llm_env(llm))
        plan_id = svc.submit()["id"]
        svc.wait_progress(plan_id, done=12)
        assert pipeline_pids(plan_id)
        svc.kill9()
        # The child (and its Luigi task processes) die with the service.
        assert wait_no_pipeline(plan_id) == []
        restarted_at = time.monotonic()
        svc2 = make_service(name="svc2", **llm_env(llm))
        plan = svc2.wait_status(plan_id)
        recovery_s = time.monotonic() - restarted_at
        print(f"\nrecovery after kill -9: restart to completed {recovery_s:.1f}s")
    finally:
        llm.configure(latency="fixed:0")
    assert plan["status"] == "completed", plan
    assert plan["attempt"] == 2
    assert recovery_s < 60
    first, second = split_runs(svc2.events(plan_id))
    done_first = {e["task"] for e in first if e["kind"] == "task_succeeded"}
    started_second = {e["task"] for e in second if e["kind"] == "task_started"}
    assert len(done_first) >= 12
    assert started_second and started_second.isdisjoint(done_first)
    assert any(e["kind"] == "plan_recovered" for e in first + second)
    assert pipeline_pids(plan_id) == []


def test_cancel_kills_the_group_and_resume_completes(make_service, llm: LLMServer) -> None:
    llm.configure(latency="fixed:0.1")
    try:
        svc = make_service(**llm_env(llm))
        plan_id = svc.submit()["id"]
        svc.wait_progress(plan_id, done=8)
        assert svc.http.post(f"/plans/{plan_id}/cancel").status_code == 200
        plan = svc.wait_status(plan_id, timeout=30)
        assert plan["status"] == "cancelled"
        assert wait_no_pipeline(plan_id) == []
        assert svc.http.get("/healthz").json()["running_children"] == 0
        assert svc.http.get(f"/plans/{plan_id}/report").status_code == 409
        resumed = svc.http.post(f"/plans/{plan_id}/resume")
        assert resumed.status_code == 202 and resumed.json()["status"] == "queued"
        plan = svc.wait_status(plan_id)
    finally:
        llm.configure(latency="fixed:0")
    assert plan["status"] == "completed"
    first, second = split_runs(svc.events(plan_id))
    done_first = {e["task"] for e in first if e["kind"] == "task_succeeded"}
    reused = set(second[0]["done_tasks"])  # what the disk held when the second run started
    rerun = {e["task"] for e in second if e["kind"] == "task_started"}
    assert len(done_first) >= 8 and done_first <= reused and rerun
    assert rerun.isdisjoint(reused)
    assert rerun | reused == {cls.step_name() for cls in ALL_TASKS}


def test_plan_timeout_fails_with_a_reason_and_leaves_nothing(make_service, llm: LLMServer) -> None:
    llm.configure(latency="fixed:0.5")
    try:
        svc = make_service(PLANEXE_PLAN_TIMEOUT_S="3", **llm_env(llm))
        plan_id = svc.submit()["id"]
        plan = svc.wait_status(plan_id, timeout=60)
    finally:
        llm.configure(latency="fixed:0")
    assert plan["status"] == "failed"
    assert plan["error"]["code"] == "timeout"
    assert "PLANEXE_PLAN_TIMEOUT_S" in plan["error"]["message"]
    assert wait_no_pipeline(plan_id) == []
    assert svc.http.get("/healthz").json()["running_children"] == 0


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_twenty_plans_two_at_a_time_in_fifo_order(make_service) -> None:
    # SQLite only: the claim path on PostgreSQL (SKIP LOCKED) is covered by
    # tests/db/test_claims.py and by tests/scale (two runners, twenty plans).
    svc = make_service(PLANEXE_MAX_CONCURRENT_PLANS="2")
    ids = [svc.submit(prompt=f"Plan number {i}: open a shop in town {i}")["id"] for i in range(20)]
    peak = 0
    stop = threading.Event()

    def census() -> None:
        nonlocal peak
        while not stop.is_set():
            roots = 0
            for pid in pipeline_pids():
                try:
                    # Pipeline mains are the service's children; their Luigi task processes are not.
                    roots += psutil.Process(pid).ppid() == svc.process.pid  # type: ignore[union-attr]
                except psutil.Error:
                    continue  # exited between the listing and the look-up
            peak = max(peak, roots, svc.http.get("/healthz").json()["running_children"])
            time.sleep(0.05)

    watcher = threading.Thread(target=census, daemon=True)
    watcher.start()
    try:
        plans = [svc.wait_status(i, timeout=300) for i in ids]
    finally:
        stop.set()
        watcher.join()
    assert [p["status"] for p in plans] == ["completed"] * 20
    assert 1 <= peak <= 2
    starts = [p["started_at"] for p in plans]
    assert starts == sorted(starts)


def test_graceful_shutdown_requeues_and_the_next_start_resumes(make_service, llm: LLMServer) -> None:
    llm.configure(latency="fixed:0.1")
    try:
        svc = make_service(**llm_env(llm))
        plan_id = svc.submit()["id"]
        svc.wait_progress(plan_id, done=10)
        # uvicorn re-raises the signal after its graceful shutdown, so -15 is a clean exit too.
        assert svc.stop(timeout=30) in (0, -15)
        assert '"runner_stopped"' in svc.log_path.read_text()
        assert wait_no_pipeline(plan_id) == []
        svc2 = make_service(name="svc2", **llm_env(llm))
        plan = svc2.wait_status(plan_id)
    finally:
        llm.configure(latency="fixed:0")
    assert plan["status"] == "completed"
    first, second = split_runs(svc2.events(plan_id))
    assert any(e["kind"] == "plan_requeued" and e["reason"] == "service shutdown" for e in first + second)
    done_first = {e["task"] for e in first if e["kind"] == "task_succeeded"}
    assert {e["task"] for e in second if e["kind"] == "task_started"}.isdisjoint(done_first)
