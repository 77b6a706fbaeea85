"""An exclusive flock on the run directory: one pipeline process per plan per host.

The holder writes ``<pid> <run>`` into the lock file. A pipeline that finds the
directory locked by an *older* run of the same plan (a run whose supervisor
lost the plan: frozen past its lease, or a runner that claimed the plan again
while its previous child was still stopping) stops that holder and takes over,
since only the newest run may write there; a newer holder means this process
is the stale one and gives up at once.
"""

from __future__ import annotations

import fcntl
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from planexe.errors import RunDirLockedError
from planexe.log import get_logger
from planexe.pipeline.procutil import signal_group
from planexe.pipeline.rundir import LOCK_FILE

log = get_logger(__name__)

POLL_S = 0.1  # seconds between attempts while waiting for the lock


@dataclass(frozen=True)
class Holder:
    pid: int | None
    run: int | None

    @classmethod
    def parse(cls, text: str) -> Holder:
        parts = text.split()
        numbers = [int(p) if p.isdigit() else None for p in parts[:2]]
        numbers += [None] * (2 - len(numbers))
        return cls(numbers[0], numbers[1])

    def describe(self) -> str:
        who = f"process {self.pid}" if self.pid else "another process"
        return f"{who} (run {self.run})" if self.run is not None else who


class RunDirLock:
    def __init__(self, run_dir: Path, run: int | None = None) -> None:
        self.path = run_dir / LOCK_FILE
        self.run = run
        self.fd: int | None = None

    def try_acquire(self) -> Holder | None:
        """Take the lock and return None, or leave it and return who holds it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = Holder.parse(os.pread(fd, 64, 0).decode(errors="replace"))
            os.close(fd)
            return holder
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {self.run if self.run is not None else ''}".encode(), 0)
        self.fd = fd
        return None

    def acquire(self, wait_s: float = 0.0, grace_s: float = 10.0) -> None:
        """Take the lock, waiting up to ``wait_s`` and stopping an older run that holds it.

        An older run gets SIGTERM (to its process group) and, after ``grace_s``,
        SIGKILL. Raises RunDirLockedError if the lock is still held at the deadline,
        at once if a newer run holds it.
        """
        deadline = time.monotonic() + wait_s
        terminated_at: float | None = None
        while True:
            holder = self.try_acquire()
            if holder is None:
                return
            older = holder.run is not None and self.run is not None and holder.run < self.run
            newer = holder.run is not None and self.run is not None and holder.run > self.run
            now = time.monotonic()
            if newer or now >= deadline:
                raise RunDirLockedError(
                    f"{self.path.parent} is already being run by {holder.describe()}; "
                    "wait for it or stop it first",
                    holder=holder.describe(),
                )
            if older and holder.pid:
                if terminated_at is None:
                    log.warning("stopping_stale_run", holder_pid=holder.pid, holder_run=holder.run)
                    signal_group(holder.pid, signal.SIGTERM)
                    terminated_at = now
                elif now - terminated_at >= grace_s:
                    signal_group(holder.pid, signal.SIGKILL)
            time.sleep(POLL_S)

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> RunDirLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
