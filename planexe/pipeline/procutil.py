"""Process hygiene: children die with their parent (Linux PR_SET_PDEATHSIG)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGKILL, expected_parent: int | None = None) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent exits.

    If the parent already died before the call (the race PDEATHSIG cannot
    cover), exit now instead of living on as an orphan.
    """
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
    if expected_parent is not None and os.getppid() != expected_parent:
        os._exit(1)
