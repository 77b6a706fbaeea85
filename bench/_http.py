"""Load on the service: wrk when installed (``apt-get install wrk``), else Python threads.

wrk is a C load generator: on a 2-core machine it takes far less CPU from the
server than Python clients would, so its figure is closer to the server's own
limit. The thread fallback says so in its result (``tool``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import psutil
from _common import percentile

from planexe.testing.service import Service, service_env

# Production defaults, not the test-friendly ones service_env() sets: the poll
# interval and heartbeat change how soon a plan is claimed and how often the
# database is written.
PRODUCTION_TIMINGS = {
    "PLANEXE_HEARTBEAT_S": "5",
    "PLANEXE_LEASE_S": "30",
    "PLANEXE_POLL_S": "0.5",
    "PLANEXE_CANCEL_GRACE_S": "10",
}


def start_service(
    workdir: Path,
    database_url: str,
    extra: Mapping[str, str] | None = None,
    *,
    command: str = "serve",
    name: str = "svc",
) -> Service:
    workdir.mkdir(parents=True, exist_ok=True)
    env = service_env(database_url, workdir, {**PRODUCTION_TIMINGS, **(extra or {})})
    return Service(env, workdir, command=command, name=name).start()


def _wrk_seconds(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        return float("nan")
    value, unit = float(m.group(1)), m.group(2)
    return value * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def wrk(url: str, seconds: float, connections: int = 8, threads: int = 2) -> dict[str, Any]:
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    return {
        "tool": f"wrk -t{threads} -c{connections}",
        "requests": total,
        "requests_per_s": rps,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "latency_p50_ms": 1000 * _wrk_seconds(lat.get("50", "")),
        "latency_p99_ms": 1000 * _wrk_seconds(lat.get("99", "")),
    }


def threads_load(url: str, seconds: float, clients: int = 8) -> dict[str, Any]:
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    deadline = time.perf_counter() + seconds

    def client(i: int) -> None:
        with httpx.Client(timeout=10) as http:
            while time.perf_counter() < deadline:
                t = time.perf_counter()
                status = http.get(url).status_code
                latencies[i].append(time.perf_counter() - t)
                errors[i] += status != 200

    started = time.perf_counter()
    workers = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - started
    flat = [x for xs in latencies for x in xs]
    return {
        "tool": f"python threads x{clients} (httpx)",
        "requests": len(flat),
        "requests_per_s": len(flat) / elapsed,
        "non_2xx": sum(errors),
        "latency_p50_ms": 1000 * percentile(flat, 50),
        "latency_p99_ms": 1000 * percentile(flat, 99),
    }


def load(url: str, seconds: float, connections: int = 8, server_pid: int | None = None) -> dict[str, Any]:
    """Requests per second on ``url``; with ``server_pid``, also the server's CPU per request.

    CPU per request is steadier than requests per second on a shared machine:
    other tenants take wall time from us, but rarely CPU time.
    """
    proc = psutil.Process(server_pid) if server_pid else None
    cpu_before = sum(proc.cpu_times()[:2]) if proc else 0.0
    result = (
        wrk(url, seconds, connections) if shutil.which("wrk") else threads_load(url, seconds, connections)
    )
    if proc:
        cpu = sum(proc.cpu_times()[:2]) - cpu_before
        result["server_cpu_ms_per_request"] = 1000 * cpu / max(1, result["requests"])
        result["server_cpu_share"] = cpu / seconds  # of one core
    return result
