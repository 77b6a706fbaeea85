"""Start the test LLM server as a real subprocess and drive it, for tests and benchmarks.

    with llm_server(latency="lognormal:0.2:0.5", rate_500=0.1, seed=7) as server:
        client = SomeClient(base_url=server.base_url)
        ...
        assert server.stats()["errors_injected"]["500"] > 0

Options are ``ServerOptions`` fields; they are validated here first, then passed as
flags, except ``api_key``, which goes through ``configure()`` so it never shows in a
process listing. The child runs in its own session with stdout discarded and stderr in a
file (read back when it fails to start).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

import planexe
from planexe.errors import PlanExeError
from planexe.llm.server.options import ServerOptions

START_TIMEOUT_S = 15.0  # for the child to import, bind and answer /stats
STOP_GRACE_S = 5.0  # between SIGTERM and SIGKILL
_POLL_S = 0.02


class LLMServerError(PlanExeError):
    """The test LLM server could not be started or controlled."""


class LLMServer:
    """Handle to a running ``python -m planexe.llm.server`` subprocess."""

    def __init__(self, process: subprocess.Popen[bytes], host: str, port: int, workdir: Path) -> None:
        self.process = process
        self.host = host
        self.port = port
        self.root_url = f"http://{host}:{port}"
        self.base_url = f"{self.root_url}/v1"
        self._workdir = workdir
        self._http = httpx.Client(base_url=self.root_url, timeout=10.0)
        self._stopped = False

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/stats")

    def reset_stats(self) -> None:
        self._call("POST", "/stats/reset")

    def requests(self) -> list[dict[str, Any]]:
        """The chat requests recorded since the last reset (start it with ``record_requests``)."""
        recorded: list[dict[str, Any]] = self._call("GET", "/requests")["requests"]
        return recorded

    def configure(self, **options: Any) -> dict[str, Any]:
        """Change options of the running server; returns all of them (API key masked)."""
        return self._call("POST", "/admin/config", json=options)

    def options(self) -> dict[str, Any]:
        return self._call("GET", "/admin/config")

    def stderr_text(self) -> str:
        path = self._workdir / "stderr.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise LLMServerError(f"{method} {path} failed: {exc}") from exc
        if response.status_code != 200:
            raise LLMServerError(f"{method} {path} answered {response.status_code}: {response.text}")
        data: dict[str, Any] = response.json()
        return data

    def stop(self) -> None:
        """SIGTERM the child's process group, wait, then SIGKILL; safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        self._http.close()
        _terminate(self.process)
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> LLMServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        _signal_group(process, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait()
    else:
        # The leader is gone; anything it left in its group goes too.
        _signal_group(process, signal.SIGKILL)


def _flags(options: ServerOptions, given: set[str]) -> list[str]:
    flags: list[str] = []
    for name in sorted(given - {"api_key"}):
        value = getattr(options, name)
        flag = "--" + name.replace("_", "-")
        if name == "models":
            flags += [item for model in value for item in ("--model", model)]
        elif isinstance(value, bool):
            flags += [flag] if value else []
        elif value is not None:
            flags += [flag, str(value)]
    return flags


def child_env() -> dict[str, str]:
    """This environment, with PYTHONPATH set so a ``python -m planexe...`` child imports this very planexe."""
    source_root = str(Path(planexe.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (source_root, env.get("PYTHONPATH")) if p)
    return env


def _wait_ready(process: subprocess.Popen[bytes], port_file: Path, stderr_path: Path, host: str) -> int:
    deadline = time.monotonic() + START_TIMEOUT_S
    port: int | None = None
    with httpx.Client(timeout=1.0) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                stderr = stderr_path.read_text(encoding="utf-8", errors="replace")
                raise LLMServerError(f"LLM server exited with code {process.returncode}:\n{stderr}")
            if port is None and port_file.exists():
                port = int(port_file.read_text(encoding="utf-8").strip())
            if port is not None:
                with contextlib.suppress(httpx.HTTPError):
                    if http.get(f"http://{host}:{port}/stats").status_code == 200:
                        return port
            time.sleep(_POLL_S)
    stderr = stderr_path.read_text(encoding="utf-8", errors="replace")
    raise LLMServerError(f"LLM server not ready after {START_TIMEOUT_S:g} s:\n{stderr}")


def start_llm_server(*, host: str = "127.0.0.1", port: int = 0, **options: Any) -> LLMServer:
    """Start a server subprocess with ``options`` (``ServerOptions`` fields); the caller stops it."""
    validated = ServerOptions.model_validate(options)
    workdir = Path(tempfile.mkdtemp(prefix="planexe-llm-server-"))
    port_file, stderr_path = workdir / "port", workdir / "stderr.log"
    command = [sys.executable, "-m", "planexe.llm.server", "--host", host, "--port", str(port)]
    command += ["--port-file", str(port_file), *_flags(validated, set(options))]
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
            env=child_env(), start_new_session=True,
        )  # fmt: skip
    try:
        bound = _wait_ready(process, port_file, stderr_path, host)
        server = LLMServer(process, host, bound, workdir)
    except BaseException:
        _terminate(process)
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    if validated.api_key:
        try:
            server.configure(api_key=validated.api_key)
        except BaseException:
            server.stop()
            raise
    return server


@contextlib.contextmanager
def llm_server(**options: Any) -> Iterator[LLMServer]:
    """A running server for the ``with`` block, stopped afterwards."""
    server = start_llm_server(**options)
    try:
        yield server
    finally:
        server.stop()
