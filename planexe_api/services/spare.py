"""One pipeline process kept ready per runner, so a launch skips Python's start and imports.

The process is ``python -m planexe.plan --standby`` (planexe/pipeline/standby.py):
started ahead with the environment every child of this runner gets, it imports
and warms up, then waits on its stdin. ``take`` hands it a launch's command line
and log file and returns it as that launch's child; the supervisor then treats it
exactly like one it started (process group, registry, keep-alive, stop). A
replacement is started right after, so the next launch finds one ready.

A spare that died, or whose environment or interpreter differs from the launch's,
is not used (the launch starts a fresh child as before): the spare can only make
a launch faster, never different. It dies with the runner (``--parent-pid``) and
is killed at ``close``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import anyio
from anyio.abc import Process

from planexe.log import get_logger
from planexe.pipeline.procutil import signal_group
from planexe.pipeline.standby import STANDBY_FLAG, order_line
from planexe_api.services.pipeline_execution_service import LaunchSpec

log = get_logger(__name__)

CHILD_PREFIX = [sys.executable, "-m", "planexe.plan"]


class SparePipeline:
    def __init__(self) -> None:
        self.env: dict[str, str] = {}  # the runner sets it once its children's environment is known
        self._ready: Process | None = None
        self._closed = False

    @property
    def pid(self) -> int | None:
        return self._ready.pid if self._ready is not None else None

    async def start(self) -> None:
        """Start a spare unless one is ready (or the runner is stopping)."""
        if self._closed or (self._ready is not None and self._ready.returncode is None):
            return
        self._ready = await anyio.open_process(
            [*CHILD_PREFIX, STANDBY_FLAG, "--parent-pid", str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,  # until its order names the run's log
            stderr=subprocess.DEVNULL,
            env=self.env,
            start_new_session=True,
        )

    async def take(self, launch: LaunchSpec) -> Process | None:
        """The ready spare, now running ``launch``; None when the launch must start its own."""
        spare, self._ready = self._ready, None
        if spare is None:
            return None
        usable = (
            spare.returncode is None
            and launch.env == self.env
            and launch.argv[: len(CHILD_PREFIX)] == CHILD_PREFIX
            and spare.stdin is not None
        )
        if usable:
            try:
                assert spare.stdin is not None
                await spare.stdin.send(order_line(launch.argv[len(CHILD_PREFIX) :], str(launch.log_path)))
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                usable = False
        if not usable:
            await _kill(spare)
            log.info("spare_not_used", pid=spare.pid)
            return None
        await self.start()  # the next launch finds one ready
        return spare

    async def close(self) -> None:
        self._closed = True
        spare, self._ready = self._ready, None
        if spare is not None:
            await _kill(spare)


async def _kill(process: Process) -> None:
    with anyio.CancelScope(shield=True):
        signal_group(process.pid, signal.SIGKILL)
        await process.wait()
        if process.stdin is not None:
            await process.stdin.aclose()
