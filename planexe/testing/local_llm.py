"""Run ``planexe local-llm`` as a real child process for end-to-end tests.

The child picks a free loopback port itself (``--port 0``, so there is no race
for the port) and writes its base URL to stdout. Both of its output streams go
to one log file, which is quoted when the server fails to come up.
``local_llm_server`` puts the three steps together: spawn, wait until ready,
stop with SIGTERM and then SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import httpx

from planexe.llm.local_server import LocalLLMError

STARTUP_TIMEOUT_S = 60.0  # SmolLM2 loads in about 1 s; the rest is slack for a slow CI machine
STOP_GRACE_S = 10.0  # time between SIGTERM and SIGKILL
POLL_INTERVAL_S = 0.1
_BASE_URL = re.compile(r"PLANEXE_LLM_BASE_URL=(\S+)")


def _tail(log_path: Path, chars: int = 2000) -> str:
    text = log_path.read_text(encoding="utf-8", errors="replace")
    return text[-chars:].strip() or "(no output)"


def _child_env() -> dict[str, str]:
    # The child reads PLANEXE_* settings (log format and level). A test's leftover values must not reach it.
    return {k: v for k, v in os.environ.items() if not k.startswith("PLANEXE_")}


def _ready(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/models", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def spawn_local_llm(
    log_file: BinaryIO,
    *,
    model: Path | None = None,
    threads: int
    | None = 1,  # ggml's threads spin-wait for each other: on a busy CI machine, 2 can be 5x slower
    ctx: int | None = 2048,
    max_tokens: int | None = 256,
    parallel: int | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``python -m planexe.llm.local_server`` in its own process group, with its output going to
    ``log_file``. An option given as None is left to ``planexe local-llm``'s default."""
    command = [sys.executable, "-m", "planexe.llm.local_server", "--port=0"]
    for flag, value in (
        ("threads", threads),
        ("ctx", ctx),
        ("max-tokens", max_tokens),
        ("parallel", parallel),
    ):
        if value is not None:
            command.append(f"--{flag}={value}")
    if model is not None:
        command.append(f"--model={model}")
    return subprocess.Popen(
        command,
        env=_child_env(),
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_until_ready(
    proc: subprocess.Popen[bytes], log_path: Path, timeout_s: float = STARTUP_TIMEOUT_S
) -> str:
    """The child's base URL, once ``GET /v1/models`` answers; raises ``LocalLLMError`` on exit or timeout."""
    deadline = time.monotonic() + timeout_s
    base_url: str | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LocalLLMError(f"local LLM server exited with code {proc.returncode}:\n{_tail(log_path)}")
        if base_url is None:
            match = _BASE_URL.search(log_path.read_text(encoding="utf-8", errors="replace"))
            base_url = match.group(1) if match else None
        if base_url is not None and _ready(base_url):
            return base_url
        time.sleep(POLL_INTERVAL_S)
    raise LocalLLMError(f"local LLM server not ready within {timeout_s:g}s:\n{_tail(log_path)}")


def stop_local_llm(proc: subprocess.Popen[bytes], grace_s: float = STOP_GRACE_S) -> int:
    """Send SIGTERM, wait up to ``grace_s`` seconds, then SIGKILL the group. Returns the exit code (negative if killed)."""
    if proc.poll() is not None:
        return proc.returncode
    # start_new_session made the child the leader of its own process group, so its pid is the group id.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        return proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait(timeout=grace_s)


@contextlib.contextmanager
def local_llm_server(
    *,
    model: Path | None = None,
    threads: int | None = 1,
    ctx: int | None = 2048,
    max_tokens: int | None = 256,
    parallel: int | None = None,
    startup_timeout_s: float = STARTUP_TIMEOUT_S,
) -> Iterator[str]:
    """Start the local llama.cpp server and yield its base URL (``http://127.0.0.1:<port>/v1``); None
    for an option keeps ``planexe local-llm``'s default."""
    with tempfile.TemporaryDirectory(prefix="planexe-local-llm-") as tmp:
        log_path = Path(tmp) / "server.log"
        with log_path.open("wb") as log_file:
            proc = spawn_local_llm(
                log_file, model=model, threads=threads, ctx=ctx, max_tokens=max_tokens, parallel=parallel
            )
        try:
            yield wait_until_ready(proc, log_path, startup_timeout_s)
        finally:
            stop_local_llm(proc)
