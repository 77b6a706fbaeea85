"""What one oversized request body costs the service, with and without the body cap.

    .venv/bin/python bench/body_limit.py            # 50 MB bodies, ~15 s
    .venv/bin/python bench/body_limit.py --quick    # 10 MB bodies

Two ``planexe serve`` processes (runner off, SQLite): one with the default cap
(``PLANEXE_MAX_BODY_BYTES`` = 1 MiB), one with the cap raised past the body
(1 GiB: the service as it was before the cap, reading a body whole before
validating it). Each gets a ``POST /plans`` of ``--mb`` MB twice: once with a
``Content-Length`` and once chunked (no length, so only counting the chunks can
stop it). Printed: the answer, its time, and the server's RSS before and after
(psutil; the peak is not sampled, so "after" is a lower bound on it).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
from _common import Stopwatch, finish, header, table
from _http import start_service

MiB = 1024 * 1024


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / MiB


def body(mb: int) -> bytes:
    # A valid JSON object whose prompt is far too long: it would pass every check but the size.
    return b'{"prompt": "' + b"x" * (mb * MiB) + b'"}'


def chunks(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def send(url: str, data: bytes, chunked: bool) -> tuple[int | str, str, float]:
    started = time.perf_counter()
    headers = {"content-type": "application/json"}
    try:
        with httpx.Client(timeout=120) as client:
            content: Any = chunks(data) if chunked else data
            response = client.post(f"{url}/plans", content=content, headers=headers)
        code = response.json().get("code", "") if response.status_code >= 400 else ""
        return response.status_code, code, time.perf_counter() - started
    except httpx.HTTPError as exc:  # the server may close the connection while we still send
        return type(exc).__name__, "", time.perf_counter() - started


def measure(root: Path, label: str, cap: int, mb: int) -> list[dict[str, Any]]:
    svc = start_service(
        root / label,
        f"sqlite:///{root / label / 'planexe.db'}",
        {"PLANEXE_RUNNER": "false", "PLANEXE_MAX_BODY_BYTES": str(cap), "PLANEXE_LOG_LEVEL": "warning"},
        name=label,
    )
    rows = []
    try:
        assert svc.process is not None
        pid = svc.process.pid
        data = body(mb)
        for chunked in (False, True):
            before = rss_mb(pid)
            status, code, seconds = send(svc.base_url, data, chunked)
            time.sleep(0.5)  # let the server finish with the request before reading its RSS
            after = rss_mb(pid)
            rows.append(
                {
                    "cap": label,
                    "body": "chunked" if chunked else "content-length",
                    "status": status,
                    "code": code,
                    "seconds": seconds,
                    "rss_before_mb": before,
                    "rss_after_mb": after,
                    "rss_growth_mb": after - before,
                }
            )
        # The service still answers after both.
        assert svc.http.get("/healthz").status_code == 200
    finally:
        svc.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb", type=int, default=50, help="size of the oversized body in MB (default 50)")
    parser.add_argument("--quick", action="store_true", help="10 MB bodies")
    args = parser.parse_args()
    if args.quick:
        args.mb = 10
    info = header("body_limit", mb=args.mb)
    clock = Stopwatch()
    with tempfile.TemporaryDirectory(prefix="planexe-bench-body-") as tmp:
        root = Path(tmp)
        rows = measure(root, "cap_1MiB", MiB, args.mb) + measure(root, "cap_1GiB", 1024 * MiB, args.mb)
    print(
        table(
            [
                [
                    r["cap"],
                    r["body"],
                    r["status"],
                    r["code"],
                    r["seconds"],
                    r["rss_before_mb"],
                    r["rss_after_mb"],
                ]
                for r in rows
            ],
            ["cap", "body", "status", "code", "s", "RSS before MB", "RSS after MB"],
        )
    )
    capped = [r for r in rows if r["cap"] == "cap_1MiB"]
    uncapped = [r for r in rows if r["cap"] == "cap_1GiB"]
    ok = all(r["status"] == 413 and r["code"] == "request_too_large" for r in capped)
    summary = (
        f"{args.mb} MB body: with the 1 MiB cap 413 and RSS +"
        f"{max(r['rss_growth_mb'] for r in capped):.0f} MB at most; without it RSS +"
        f"{max(r['rss_growth_mb'] for r in uncapped):.0f} MB"
    )
    figures = {"machine": info, "mb": args.mb, "rows": rows, "runtime_s": clock.elapsed()}
    finish("body_limit", figures, summary)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
