"""The pipeline's end of its supervisor's keep-alive.

PR_SET_PDEATHSIG stops the pipeline when its supervisor dies, but not when the
supervisor is frozen (SIGSTOP, a stopped container, a long pause): then its
lease runs out, another runner takes the plan over, and two pipelines of one
plan would run at once. So the supervisor writes a byte to the child's stdin
every second or so, and the child stops itself, as if sent SIGTERM, once it
has heard nothing for a whole lease; after a grace period it kills its
process group. End of file on stdin (the supervisor is gone) stops it too.
"""

from __future__ import annotations

import os
import select
import signal
import threading
import time
from collections.abc import Callable

from planexe.log import get_logger
from planexe.pipeline.procutil import signal_group

log = get_logger(__name__)


def watch_supervisor(
    fd: int, timeout_s: float, grace_s: float, on_stop: Callable[[str], None] | None = None
) -> threading.Thread:
    """Start a daemon thread that stops this process when ``fd`` stays silent for ``timeout_s``."""

    def watch() -> None:
        reason = _wait_for_silence(fd, timeout_s)
        log.warning("supervisor_lost", reason=reason, timeout_s=timeout_s)
        if on_stop is not None:
            on_stop(reason)
        os.kill(os.getpid(), signal.SIGTERM)  # the graceful path: Luigi stops its steps
        time.sleep(grace_s)
        # Still here: whatever blocks the graceful path must not keep a second pipeline alive.
        pgid = os.getpgrp()
        signal_group(pgid if pgid == os.getpid() else os.getpid(), signal.SIGKILL)

    thread = threading.Thread(target=watch, name="planexe-watchdog", daemon=True)
    thread.start()
    return thread


def _wait_for_silence(fd: int, timeout_s: float) -> str:
    while True:
        readable, _, _ = select.select([fd], [], [], timeout_s)
        if not readable:
            return "silent"
        try:
            if not os.read(fd, 4096):
                return "gone"
        except OSError:
            return "gone"
