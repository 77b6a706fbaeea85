from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest
import structlog

from planexe.pipeline.rundir import PlanSpec
from planexe.settings import Settings
from planexe.testing.pipeline import log_records, make_run_dir, run_to_end
from planexe_api.services.pipeline_execution_service import PipelineExecutionService


def service(tmp_path: Path, environ: dict[str, str], **settings: object) -> PipelineExecutionService:
    return PipelineExecutionService(
        Settings(runs_dir=tmp_path / "runs", **settings), environ=environ, python="/py"
    )


def test_exact_command_and_environment(tmp_path: Path) -> None:
    svc = service(tmp_path, {"PATH": "/bin", "HOME": "/root"})
    launch = svc.launch_spec(PlanSpec(prompt="Open a bakery", plan_id="abc123"), run=7, parent_pid=4242)
    run_dir = str((tmp_path / "runs" / "abc123").resolve())
    host = socket.gethostname()
    assert launch.argv == [
        "/py", "-m", "planexe.plan",
        "--run-dir", run_dir,
        "--attempt", "7",
        "--parent-pid", "4242",
        "--keepalive-timeout", "30",
        "--stop-grace", "10",
        "--lock-wait", "20",
        "--worker-id", f"planexe-abc123-r7-{host}",
        "--worker-timeout", "160",
        "--scheduler-retry-count", "2",
        "--scheduler-retry-delay", "3",
        "--scheduler-remove-delay", "5",
        "--worker-keep-alive",
    ]  # fmt: skip
    assert launch.env == {
        "PATH": "/bin",
        "HOME": "/root",
        "LUIGI_WORKERS": "10",
        "PYTHONUNBUFFERED": "1",
        "PLANEXE_LOG_FORMAT": "json",
    }
    assert json.loads((Path(run_dir) / "plan.json").read_text())["prompt"] == "Open a bakery"
    assert launch.log_path == Path(run_dir) / "log.txt"


def test_central_scheduler_url_is_passed_on(tmp_path: Path) -> None:
    svc = service(tmp_path, {}, luigi_scheduler_url="http://127.0.0.1:8082")
    argv = svc.build_command("p", 1, parent_pid=1)
    assert argv[-2:] == ["--scheduler-url", "http://127.0.0.1:8082"]


@pytest.mark.parametrize(
    ("operator_value", "injected", "log_event"),
    [
        (None, "10", None),
        ("10", "10", None),
        ("4", "4", "workers=4 (from env) differs from the recommended 10"),
        ("many", "10", "LUIGI_WORKERS='many' is not a whole number in 1..64; using the fallback 10"),
    ],
)
def test_worker_count_precedence(
    tmp_path: Path, operator_value: str | None, injected: str, log_event: str | None
) -> None:
    environ = {} if operator_value is None else {"LUIGI_WORKERS": operator_value}
    with structlog.testing.capture_logs() as logs:
        svc = service(tmp_path, environ)
    assert svc.build_env()["LUIGI_WORKERS"] == injected
    # Unset is the normal case: no warning at all.
    assert [entry["message"] for entry in logs if entry["event"] == "luigi_workers_setting"] == (
        [log_event] if log_event else []
    )
    assert len(logs) == (1 if log_event else 0)


def test_the_child_applies_what_the_service_built(tmp_path: Path) -> None:
    """Run the exact command the service builds (offline, fast) and read the child's own log."""
    svc = PipelineExecutionService(Settings(runs_dir=tmp_path / "runs"), environ={}, python=sys.executable)
    run_dir = make_run_dir(tmp_path)
    spec = PlanSpec(prompt="Open a bakery", detail="fast", plan_id="child")
    launch = svc.launch_spec(spec, run=3)
    hygiene_args = launch.argv[launch.argv.index("--worker-id") :]
    assert (
        run_to_end(
            run_dir, "--attempt", "3", *hygiene_args, env={"LUIGI_WORKERS": launch.env["LUIGI_WORKERS"]}
        )
        == 0
    )
    records = log_records(run_dir)
    config = next(r for r in records if r.get("event") == "luigi_config")
    assert config["worker_id"] == f"planexe-child-r3-{socket.gethostname()}"
    assert (config["worker_timeout"], config["worker_keep_alive"]) == (160, True)
    assert (
        config["scheduler_retry_count"],
        config["scheduler_retry_delay"],
        config["scheduler_remove_delay"],
    ) == (2, 3.0, 5.0)
    assert [r["workers"] for r in records if r.get("event") == "workers"] == [10]
