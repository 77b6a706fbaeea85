"""PLANEXE_WARM_SPARE: a pipeline process kept ready by the runner becomes a plan's child.

Real service, real processes: the spare exists before any plan, runs the first plan
(its log lands in the run's log.txt as a fresh child's would), is replaced at once,
and never outlives the service, whether it stops gracefully or is killed -9.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from planexe.testing.service import Service, service_env


def _standbys(service: Service) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmd = proc.info["cmdline"] or []
        mine = f"{service.process.pid}" in cmd  # --parent-pid: this service's spares only
        if "--standby" in cmd and mine and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(proc)
    return found


def _wait(predicate, what: str, timeout: float = 60):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, what
        time.sleep(0.05)
    return value


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    env = service_env(f"sqlite:///{tmp_path / 'planexe.db'}", tmp_path, {"PLANEXE_WARM_SPARE": "true"})
    started = Service(env, tmp_path).start()
    yield started
    started.close()


def test_the_spare_runs_the_first_plan_and_is_replaced(service: Service) -> None:
    first = _wait(lambda: _standbys(service), "no spare was started")[0]
    plan_id = service.submit()["id"]
    plan = service.wait_status(plan_id)
    assert plan["status"] == "completed", plan.get("error")
    started = [
        json.loads(line)
        for line in service.log_path.read_text().splitlines()
        if '"child_started"' in line and plan_id in line
    ]
    assert started and started[0]["warm"] is True and started[0]["pid"] == first.pid
    # The plan's own log holds what the warm child logged after its order.
    child_log = (Path(service.workdir) / "runs" / plan_id / "log.txt").read_text()
    assert '"pipeline_finished"' in child_log
    replacement = _wait(lambda: [p for p in _standbys(service) if p.pid != first.pid], "no replacement")
    assert not first.is_running() or first.status() == psutil.STATUS_ZOMBIE
    service.stop()
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in replacement)


def test_a_spare_dies_with_a_killed_service(service: Service) -> None:
    spare = _wait(lambda: _standbys(service), "no spare was started")[0]
    service.kill9()
    _wait(
        lambda: not spare.is_running() or spare.status() == psutil.STATUS_ZOMBIE,
        "the spare outlived its runner",
        30,
    )
