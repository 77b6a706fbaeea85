"""Start one pipeline child and stay with it until it is gone.

The child gets its own session (process group), so a stop signals the whole
tree of Luigi task processes at once: SIGTERM, a grace period, then SIGKILL.
Whatever happens to the supervising coroutine (exit, timeout, cancel, lost
lease, an exception, or its own cancellation), the ``finally`` kills the group
and unregisters the child, shielded from cancellation.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import anyio
from anyio.abc import Process

from planexe.log import get_logger
from planexe.pipeline.procutil import signal_group
from planexe_api.services.pipeline_execution_service import LaunchSpec
from planexe_api.services.process_registry import ChildInfo, ProcessRegistry
from planexe_api.services.spare import SparePipeline

log = get_logger(__name__)


class StopReason(StrEnum):
    EXITED = "exited"  # the child ended by itself; see its exit code
    CANCELLED = "cancelled"  # a user asked to cancel the plan
    TIMEOUT = "timeout"  # the plan ran past PLANEXE_PLAN_TIMEOUT_S
    LEASE_LOST = "lease_lost"  # another runner owns the plan now
    SHUTDOWN = "shutdown"  # this service is stopping; the plan is requeued


class StopRequest:
    """Set once, from any task, to stop a child for a reason."""

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.reason: StopReason | None = None

    def set(self, reason: StopReason) -> None:
        if self.reason is None:
            self.reason = reason
            self.event.set()

    def is_set(self) -> bool:
        return self.reason is not None


@dataclass(frozen=True)
class ChildOutcome:
    returncode: int | None
    stop_reason: StopReason
    duration_s: float


async def stop_group(process: Process, pgid: int, grace_s: float) -> None:
    """SIGTERM the child's group, wait up to ``grace_s`` for the child, then SIGKILL the group."""
    if process.returncode is None and signal_group(pgid, signal.SIGTERM):
        with anyio.move_on_after(grace_s):
            await process.wait()
    # Always, even after a clean exit: a straggler in the group must not outlive us.
    signal_group(pgid, signal.SIGKILL)
    await process.wait()


async def _keep_alive(process: Process, interval_s: float) -> None:
    """Write to the child's stdin while this event loop runs: a child that hears nothing for a
    lease knows its supervisor is frozen or gone, and stops (planexe/pipeline/watchdog.py)."""
    assert process.stdin is not None
    try:
        while True:
            await process.stdin.send(b".")
            await anyio.sleep(interval_s)
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        return  # the child has exited; process.wait() sees it


async def supervise(
    launch: LaunchSpec,
    registry: ProcessRegistry,
    plan_id: str,
    run: int,
    attempt: int,
    *,
    timeout_s: float,
    grace_s: float,
    stop: StopRequest,
    on_started: Callable[[ChildInfo], None] | None = None,
    spare: SparePipeline | None = None,
) -> ChildOutcome:
    plog = log.bind(plan_id=plan_id, run=run, attempt=attempt)
    started = time.monotonic()
    process = await spare.take(launch) if spare is not None else None
    warm = process is not None
    if process is None:
        with launch.log_path.open("ab") as log_file:
            process = await anyio.open_process(
                launch.argv,
                stdin=subprocess.PIPE,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=launch.env,
                start_new_session=True,
            )
    # From here every path leaves through the finally below: nothing started escapes supervision.
    info = ChildInfo(plan_id=plan_id, run=run, pid=process.pid, pgid=process.pid, attempt=attempt)
    reason = StopReason.EXITED
    registered = False
    try:
        registry.register(info)
        registered = True
        plog.info("child_started", pid=process.pid, worker_id=launch.worker_id, warm=warm)
        if on_started is not None:
            on_started(info)
        with anyio.move_on_after(timeout_s) as deadline:
            async with anyio.create_task_group() as tg:

                async def stop_on_request() -> None:
                    await stop.event.wait()
                    tg.cancel_scope.cancel()

                tg.start_soon(stop_on_request)
                tg.start_soon(_keep_alive, process, launch.keepalive_interval_s)
                await process.wait()
                tg.cancel_scope.cancel()
        if process.returncode is None:
            reason = (
                StopReason.TIMEOUT if deadline.cancelled_caught else (stop.reason or StopReason.CANCELLED)
            )
            plog.warning("child_stopping", pid=process.pid, reason=reason.value, grace_s=grace_s)
    finally:
        with anyio.CancelScope(shield=True):
            await stop_group(process, info.pgid, grace_s)
            if process.stdin is not None:
                await process.stdin.aclose()
            if registered:
                registry.unregister(plan_id, run)
    duration = time.monotonic() - started
    plog.info(
        "child_exited",
        pid=process.pid,
        returncode=process.returncode,
        reason=reason.value,
        duration_s=round(duration, 3),
    )
    return ChildOutcome(process.returncode, reason, duration)
