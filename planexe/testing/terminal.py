"""Run ``planexe`` with a pseudo-terminal as its terminal, as a person at a shell would, for tests."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]")
DEADLINE_S = 300  # only the give-up point; the run ends on its own in seconds


def run_on_a_terminal(args: list[str], env: dict[str, str], cwd: str | None = None) -> tuple[int, str]:
    """Run ``planexe`` with a pty as its terminal (120 x 40); its exit code and everything it showed."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "planexe.cli", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )
    os.close(slave)
    shown = bytearray()
    deadline = time.monotonic() + DEADLINE_S
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
    return process.wait(timeout=60), shown.decode("utf-8", errors="replace")


def screen_lines(shown: str) -> list[str]:
    """What starts each line on screen: control sequences dropped, split at every CR and LF."""
    return [line for line in re.split(r"[\r\n]", ANSI.sub("", shown)) if line.strip()]
