"""Memory of GET /plans/{id}/archive: the service's RSS while it streams a small and a large plan.

    .venv/bin/python bench/archive.py            # 20 and 400 outputs of 1 MB (~3 min)
    .venv/bin/python bench/archive.py --quick    # 20 and 100

Each plan is a real offline plan's outputs (``planexe run``) plus N padding
outputs of 1 MB of random bytes (incompressible, so the compressed copy is as
large as the input), and its event log, stored in a SQLite database as a
runner would have stored them. A real ``planexe serve`` (no runner) answers;
the client reads the zip in 64 KiB pieces and discards them, while the
service's RSS is sampled every 20 ms. The figure is the peak RSS above the
service's RSS just before the download (after a warm-up download, so imports
and first-use allocations are not counted). Streaming holds one output at a
time: the peak must not grow with the plan (target: under 32 MB above the
baseline for both sizes, while the large archive is ~400 MB).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
from _common import PROMPT, Stopwatch, finish, header, table
from _proctree import TreeSampler, tree

from planexe.pipeline.rundir import EVENTS_FILE, LOCK_FILE, LOG_FILE, PLAN_FILE
from planexe.testing.service import Service, service_env
from planexe_api.db import repo_events, repo_files, repo_plans
from planexe_api.db.migrate import upgrade
from planexe_api.db.models import PlanStatus, utcnow
from planexe_api.db.repo_files import FileUpload
from planexe_api.services.store import Store

MB = 1024 * 1024
PADDING_FILE = MB
TARGET_GROWTH_MB = 32.0
EVENTS = 5000
NOT_OUTPUTS = {PLAN_FILE, EVENTS_FILE, LOG_FILE, LOCK_FILE}


def offline_outputs(workdir: Path) -> list[FileUpload]:
    run_dir = workdir / "offline-run"
    subprocess.run(
        [sys.executable, "-m", "planexe.cli", "run", "--quiet", "--detail", "fast", "--run-dir", str(run_dir), PROMPT],
        check=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("PLANEXE_")},
        capture_output=True,
    )  # fmt: skip
    return [
        FileUpload.of(p.name, p.stem, p.read_bytes())
        for p in sorted(run_dir.iterdir())
        if p.is_file() and p.name not in NOT_OUTPUTS and not p.name.startswith(".")
    ]


def store_plan(store: Store, outputs: list[FileUpload], padding: int) -> str:
    """A completed plan with ``outputs``, ``padding`` random 1 MB outputs and EVENTS events."""

    def create(session: Any) -> str:
        plan = repo_plans.create_plan(session, prompt=PROMPT, detail="fast")
        plan.status = PlanStatus.COMPLETED
        plan.finished_at = utcnow()
        repo_files.store_files(session, plan_id=plan.id, files=outputs)
        return plan.id

    plan_id = store.run_sync(create, write=True)
    for start in range(0, padding, 20):
        batch = [
            FileUpload.of(f"padding/blob-{i:04d}.bin", "padding", os.urandom(PADDING_FILE))
            for i in range(start, min(padding, start + 20))
        ]
        store.run_sync(lambda s, b=batch: repo_files.store_files(s, plan_id=plan_id, files=b), write=True)
    for start in range(0, EVENTS, 500):
        events = [
            {"kind": "llm_call", "n": i, "model": "offline", "tokens": 1234}
            for i in range(start, start + 500)
        ]
        store.run_sync(
            lambda s, e=events: repo_events.append_service_events(s, plan_id=plan_id, events=e), write=True
        )
    return plan_id


def download(svc: Service, plan_id: str, pid: int, path: Path) -> dict[str, Any]:
    baseline = tree(pid)[0].memory_info().rss / MB
    received = 0
    clock = time.perf_counter()
    with (
        TreeSampler({"service": lambda: tree(pid)[:1]}, interval_s=0.02) as sampler,
        path.open("wb") as out,
        httpx.stream("GET", f"{svc.base_url}/plans/{plan_id}/archive", timeout=600) as response,
    ):
        response.raise_for_status()
        for chunk in response.iter_bytes(64 * 1024):
            out.write(chunk)
            received += len(chunk)
    seconds = time.perf_counter() - clock
    with zipfile.ZipFile(path) as zf:
        bad = zf.testzip()
        entries = len(zf.namelist())
    path.unlink()
    peak = sampler.peaks["service"].rss_mb
    return {
        "archive_mb": received / MB,
        "entries": entries,
        "zip_valid": bad is None,
        "seconds": seconds,
        "mb_per_s": received / MB / seconds,
        "rss_before_mb": baseline,
        "rss_peak_mb": peak,
        "rss_growth_mb": peak - baseline,
        "samples": sampler.samples,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="20 and 100 padding outputs instead of 20 and 400"
    )
    args = parser.parse_args()
    sizes = [20, 100] if args.quick else [20, 400]
    info = header("archive", sizes=sizes, padding_file_mb=PADDING_FILE // MB, events=EVENTS)
    watch = Stopwatch()
    with tempfile.TemporaryDirectory(prefix="planexe-bench-archive-") as tmp:
        workdir = Path(tmp)
        url = f"sqlite:///{workdir / 'planexe.db'}"
        upgrade(url)
        store = Store.open(url)
        outputs = offline_outputs(workdir)
        warmup = store_plan(store, outputs, 0)
        plans = {n: store_plan(store, outputs, n) for n in sizes}
        store.close()
        svc = Service(
            service_env(url, workdir, {"PLANEXE_RUNNER": "false", "PLANEXE_LOG_LEVEL": "warning"}), workdir
        )
        svc.start()
        try:
            assert svc.process is not None
            pid = svc.process.pid
            download(svc, warmup, pid, workdir / "warmup.zip")
            results = {n: download(svc, plan_id, pid, workdir / f"{n}.zip") for n, plan_id in plans.items()}
        finally:
            svc.close()
    rows = [
        (
            len(outputs) + n,
            round(r["archive_mb"], 1),
            r["entries"],
            round(r["seconds"], 2),
            round(r["mb_per_s"], 1),
            round(r["rss_before_mb"], 1),
            round(r["rss_peak_mb"], 1),
            round(r["rss_growth_mb"], 1),
        )
        for n, r in results.items()
    ]
    print(table(rows, ["outputs", "zip MB", "entries", "s", "MB/s", "RSS before", "RSS peak", "growth MB"]))
    growths = [r["rss_growth_mb"] for r in results.values()]
    ok = all(r["zip_valid"] for r in results.values()) and max(growths) < TARGET_GROWTH_MB
    small, large = results[sizes[0]], results[sizes[-1]]
    summary = (
        f"archive: {large['archive_mb']:.0f} MB streamed with RSS +{large['rss_growth_mb']:.1f} MB "
        f"(a {small['archive_mb']:.0f} MB one: +{small['rss_growth_mb']:.1f} MB); "
        f"target < {TARGET_GROWTH_MB:.0f} MB: {'met' if ok else 'MISSED'}; bench {watch.elapsed():.0f} s"
    )
    figures = {"machine": info, "results": {str(k): v for k, v in results.items()}, "target_met": ok}
    finish("archive", figures, summary)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
