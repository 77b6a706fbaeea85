"""The supervisor and registry with real child processes and real signals."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import anyio
import psutil
import pytest

from planexe_api.services.pipeline_execution_service import LaunchSpec
from planexe_api.services.process_registry import ProcessRegistry
from planexe_api.services.supervisor import StopReason, StopRequest, supervise

# A child that starts a grandchild in its process group, reports both pids,
# ignores nothing, and then behaves as told by argv[1].
CHILD = r"""
import os, subprocess, sys, time, signal
mode = sys.argv[1]
grand = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
print(f"pids {os.getpid()} {grand.pid}", flush=True)
if mode == "exit3":
    sys.exit(3)
if mode == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if mode == "listen":
    got = sys.stdin.buffer.read(3)
    print(f"keepalive {got!r}", flush=True)
time.sleep(120)
"""


def launch(tmp_path: Path, mode: str) -> LaunchSpec:
    return LaunchSpec(
        argv=[sys.executable, "-c", CHILD, mode],
        env=dict(os.environ),
        run_dir=tmp_path,
        log_path=tmp_path / "log.txt",
        worker_id="test",
        keepalive_interval_s=0.05,
    )


def pids_from_log(path: Path) -> list[int]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for line in path.read_text().splitlines() if path.exists() else []:
            if line.startswith("pids "):
                return [int(p) for p in line.split()[1:]]
        time.sleep(0.02)
    raise AssertionError("child never reported its pids")


def alive(pid: int, settle_s: float = 3.0) -> bool:
    """Whether ``pid`` still runs once a SIGKILL already sent has had time to land."""
    deadline = time.monotonic() + settle_s
    while True:
        try:
            running = psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            running = False
        if not running or time.monotonic() > deadline:
            return running
        time.sleep(0.02)


async def run_case(
    tmp_path: Path,
    mode: str,
    *,
    timeout_s: float = 30,
    stop_after: float | None = None,
    reason: StopReason = StopReason.CANCELLED,
    registry: ProcessRegistry | None = None,
):
    registry = registry or ProcessRegistry()
    stop = StopRequest()
    seen: list[int] = []

    async def stopper() -> None:
        if stop_after is not None:
            await anyio.to_thread.run_sync(pids_from_log, tmp_path / "log.txt")
            await anyio.sleep(stop_after)
            stop.set(reason)

    async with anyio.create_task_group() as tg:
        tg.start_soon(stopper)
        outcome = await supervise(
            launch(tmp_path, mode),
            registry,
            "plan-1",
            1,
            1,
            timeout_s=timeout_s,
            grace_s=0.5,
            stop=stop,
            on_started=lambda info: seen.append(len(registry)),
        )
    return outcome, registry, seen


def test_exit_code_is_reported_and_the_group_is_cleaned(tmp_path: Path) -> None:
    outcome, registry, seen = anyio.run(lambda: run_case(tmp_path, "exit3"))
    assert (outcome.returncode, outcome.stop_reason) == (3, StopReason.EXITED)
    assert seen == [1]  # registered while running
    assert len(registry) == 0
    child, grandchild = pids_from_log(tmp_path / "log.txt")
    assert not alive(child) and not alive(grandchild)


@pytest.mark.parametrize("mode", ["sleep", "stubborn"])
def test_cancel_kills_the_whole_group(tmp_path: Path, mode: str) -> None:
    outcome, registry, _ = anyio.run(lambda: run_case(tmp_path, mode, stop_after=0.1))
    assert outcome.stop_reason is StopReason.CANCELLED
    assert outcome.returncode is not None and outcome.returncode < 0
    assert len(registry) == 0
    assert not any(alive(p) for p in pids_from_log(tmp_path / "log.txt"))


def test_timeout_stops_the_group(tmp_path: Path) -> None:
    outcome, registry, _ = anyio.run(lambda: run_case(tmp_path, "sleep", timeout_s=1.0))
    assert outcome.stop_reason is StopReason.TIMEOUT
    assert len(registry) == 0
    assert not any(alive(p) for p in pids_from_log(tmp_path / "log.txt"))


def test_lease_loss_reason_is_kept(tmp_path: Path) -> None:
    outcome, _, _ = anyio.run(
        lambda: run_case(tmp_path, "sleep", stop_after=0.05, reason=StopReason.LEASE_LOST)
    )
    assert outcome.stop_reason is StopReason.LEASE_LOST


def test_supervisor_cancelled_from_outside_still_cleans_up(tmp_path: Path) -> None:
    registry = ProcessRegistry()

    async def main() -> None:
        with anyio.move_on_after(1.0):
            await supervise(
                launch(tmp_path, "sleep"),
                registry,
                "plan-1",
                1,
                1,
                timeout_s=60,
                grace_s=0.5,
                stop=StopRequest(),
            )

    anyio.run(main)
    assert len(registry) == 0
    assert not any(alive(p) for p in pids_from_log(tmp_path / "log.txt"))


def test_failure_to_start_leaves_registry_empty(tmp_path: Path) -> None:
    registry = ProcessRegistry()
    spec = LaunchSpec(["/nonexistent/python"], dict(os.environ), tmp_path, tmp_path / "log.txt", "w", 1.0)

    async def main() -> None:
        await supervise(spec, registry, "plan-1", 1, 1, timeout_s=5, grace_s=0.1, stop=StopRequest())

    with pytest.raises(FileNotFoundError):
        anyio.run(main)
    assert len(registry) == 0


def test_the_child_hears_the_supervisors_keepalive(tmp_path: Path) -> None:
    stop = StopRequest()
    log_path = tmp_path / "log.txt"

    async def stop_once_heard() -> None:
        while "keepalive" not in (log_path.read_text() if log_path.exists() else ""):
            await anyio.sleep(0.02)
        stop.set(StopReason.CANCELLED)

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(stop_once_heard)
            await supervise(
                launch(tmp_path, "listen"), ProcessRegistry(), "p", 1, 1, timeout_s=30, grace_s=0.5, stop=stop
            )

    anyio.run(main)
    assert "keepalive b'...'" in log_path.read_text()


def test_two_runs_of_one_plan_are_supervised_side_by_side(tmp_path: Path) -> None:
    """A runner frozen past its lease may claim its plan again while the old child still stops:
    both children are registered, and each run's cleanup removes only its own entry."""
    registry = ProcessRegistry()
    old_stop, new_stop = StopRequest(), StopRequest()
    sizes: list[int] = []

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            (tmp_path / "old").mkdir()
            (tmp_path / "new").mkdir()
            tg.start_soon(
                lambda: supervise(
                    launch(tmp_path / "old", "sleep"),
                    registry,
                    "p",
                    4,
                    2,
                    timeout_s=30,
                    grace_s=0.5,
                    stop=old_stop,
                )
            )
            await anyio.to_thread.run_sync(pids_from_log, tmp_path / "old" / "log.txt")
            tg.start_soon(
                lambda: supervise(
                    launch(tmp_path / "new", "sleep"),
                    registry,
                    "p",
                    5,
                    3,
                    timeout_s=30,
                    grace_s=0.5,
                    stop=new_stop,
                )
            )
            await anyio.to_thread.run_sync(pids_from_log, tmp_path / "new" / "log.txt")
            sizes.append(len(registry))
            old_stop.set(StopReason.LEASE_LOST)
            while len(registry) != 1:
                await anyio.sleep(0.02)
            sizes.append(len(registry))
            assert [c.run for c in registry.children()] == [5]
            new_stop.set(StopReason.CANCELLED)

    anyio.run(main)
    assert sizes == [2, 1] and len(registry) == 0


def test_registry_keys_children_by_plan_and_run() -> None:
    from planexe_api.services.process_registry import ChildInfo

    registry = ProcessRegistry()
    registry.register(ChildInfo("p", 1, 11, 11, 1))
    registry.register(ChildInfo("p", 2, 12, 12, 1))
    with pytest.raises(RuntimeError, match="already registered"):
        registry.register(ChildInfo("p", 2, 13, 13, 1))
    assert registry.unregister("p", 1) is not None and registry.unregister("p", 1) is None
    assert [c.pid for c in registry.children()] == [12] and len(registry) == 1
