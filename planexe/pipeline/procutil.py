"""Process hygiene: children die with their parent (Linux PR_SET_PDEATHSIG); signalling a group."""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1

# Resolved once at import, before Luigi forks: ctypes.util.find_library would
# spawn ldconfig in every task process (~0.1-0.2 s each). CDLL(None) is the
# running program, which links libc on Linux.
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def die_with_parent(sig: int = signal.SIGKILL, expected_parent: int | None = None) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent exits.

    If the parent already died before the call (the race PDEATHSIG cannot
    cover), exit now instead of living on as an orphan.
    """
    if _libc is None:
        return
    _libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
    if expected_parent is not None and os.getppid() != expected_parent:
        os._exit(1)


def signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to process group ``pgid`` (or to the process alone if it leads no group).

    False if nothing was there to signal. Every pipeline the service starts leads its own
    group (``start_new_session``), so the group reaches its forked steps too.
    """
    try:
        os.killpg(pgid, sig)
        return True
    except ProcessLookupError:
        pass
    except PermissionError:
        return False
    try:
        os.kill(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False
