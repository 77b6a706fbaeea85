"""Run ``planexe serve`` / ``planexe worker`` as real processes for tests and benchmarks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from planexe.errors import PlanExeError

TERMINAL = ("completed", "failed", "cancelled", "refused")


class ServiceError(PlanExeError):
    """The PlanExe service under test did not behave."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_env(database_url: str, workdir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PLANEXE_") and k not in ("LUIGI_WORKERS", "DATABASE_URL")
    }
    env.update(
        {
            "PLANEXE_DATABASE_URL": database_url,
            "PLANEXE_RUNS_DIR": str(workdir / "runs"),
            "PLANEXE_DATA_DIR": str(workdir / "data"),
            "PLANEXE_LOG_FORMAT": "json",
            "PLANEXE_HEARTBEAT_S": "0.5",
            "PLANEXE_LEASE_S": "3",
            "PLANEXE_POLL_S": "0.2",
            "PLANEXE_CANCEL_GRACE_S": "2",
        }
    )
    env.update(extra or {})
    return env


class Service:
    """A running ``planexe serve`` (or ``worker``) process with an HTTP client for it."""

    def __init__(
        self, env: Mapping[str, str], workdir: Path, *, command: str = "serve", name: str = "svc"
    ) -> None:
        self.env = dict(env)
        self.workdir = workdir
        self.command = command
        self.name = name
        self.port = free_port() if command == "serve" else 0
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=self.base_url, timeout=30)

    def start(self, wait: bool = True) -> Service:
        args = [sys.executable, "-m", "planexe.cli", self.command]
        if self.command == "serve":
            args += ["--port", str(self.port)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                args,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,
            )
        if wait and self.command == "serve":
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise ServiceError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if self.http.get("/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise ServiceError(f"{self.name} did not become ready:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM and wait (graceful shutdown)."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise ServiceError(f"{self.name} ignored SIGTERM for {timeout}s:\n{self.log_tail()}") from None

    def kill9(self) -> None:
        """SIGKILL the service process only (not its group): its children must die on their own."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def close(self) -> None:
        try:
            self.stop(timeout=20)
        except ServiceError:
            pass
        self.http.close()

    # ---- API helpers ----
    def submit(
        self, prompt: str = "Open a small bakery in Copenhagen", detail: str = "fast", **extra: Any
    ) -> dict[str, Any]:
        response = self.http.post("/plans", json={"prompt": prompt, "detail": detail, **extra})
        if response.status_code != 202:
            raise ServiceError(f"POST /plans answered {response.status_code}: {response.text}")
        return response.json()

    def plan(self, plan_id: str) -> dict[str, Any]:
        return self.http.get(f"/plans/{plan_id}").json()

    def wait_status(
        self, plan_id: str, statuses: tuple[str, ...] = TERMINAL, timeout: float = 120
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        plan: dict[str, Any] = {}
        while time.monotonic() < deadline:
            plan = self.plan(plan_id)
            if plan.get("status") in statuses:
                return plan
            time.sleep(0.1)
        raise ServiceError(f"plan {plan_id} never reached {statuses}; last: {plan}\n{self.log_tail()}")

    def wait_progress(self, plan_id: str, done: int, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            plan = self.plan(plan_id)
            if plan["progress"]["done"] >= done or plan["status"] in TERMINAL:
                return plan
            time.sleep(0.05)
        raise ServiceError(f"plan {plan_id} never reached {done} tasks done")

    def events(self, plan_id: str, after: int = 0) -> list[dict[str, Any]]:
        """Read the SSE stream to its end; each event as {"id", "event", "data"}."""
        import json

        out: list[dict[str, Any]] = []
        current: dict[str, Any] = {}
        headers = {"Last-Event-ID": str(after)} if after else {}
        with self.http.stream("GET", f"/plans/{plan_id}/events", headers=headers, timeout=120) as response:
            for line in response.iter_lines():
                if not line:
                    if "event" in current:
                        out.append(current)
                    current = {}
                elif line.startswith("id: "):
                    current["id"] = int(line[4:])
                elif line.startswith("event: "):
                    current["event"] = line[7:]
                elif line.startswith("data: "):
                    current["data"] = json.loads(line[6:])
        return out
