"""Many plans through one runner and through two, on PostgreSQL.

    .venv/bin/python bench/scale.py            # 50 plans per layout, ~3 min on 2 cores
    .venv/bin/python bench/scale.py --quick    # 10 plans per layout, about a minute

Plans are detail=fast, offline provider, zero latency, so the figures are the
service's and the pipeline's own costs. Layouts:

* one runner: ``planexe serve`` with its runner (PLANEXE_MAX_CONCURRENT_PLANS=2);
* two runners: ``planexe serve`` with PLANEXE_RUNNER=false plus two
  ``planexe worker`` processes (2 plans each).

Each layout gets its own fresh database on 127.0.0.1:5432 (dropped afterwards
unless --keep-db). Reported: plans per minute (first POST -> last completed),
peak RSS of the service processes alone and of their children (summed over
the process tree, psutil every 0.1 s), CPU of the service processes per plan,
and database rows, bytes (pg_total_relation_size) and commits per plan.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil
import psycopg
from _common import PROMPT, RESULTS_DIR, Stopwatch, finish, header, median, table
from _http import start_service
from _proctree import TreeSampler, tree

from planexe.testing.service import Service
from planexe_api.db import migrate

TABLES = ("plans", "plan_events", "plan_files", "llm_usage", "workers")
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


def pg_url(db: str, driver: bool = True) -> str:
    return f"postgresql{'+psycopg' if driver else ''}://postgres@127.0.0.1:5432/{db}"


def create_db(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    migrate.upgrade(pg_url(name))


def drop_db(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def db_counters(name: str) -> dict[str, int]:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT xact_commit, tup_inserted, tup_updated, tup_deleted FROM pg_stat_database WHERE datname = %s",
            (name,),
        ).fetchone()
    assert row is not None
    return dict(zip(("commits", "inserted", "updated", "deleted"), row, strict=True))


def db_sizes(name: str) -> dict[str, dict[str, int]]:
    out = {}
    with psycopg.connect(pg_url(name, driver=False)) as conn:
        for t in TABLES:
            rows = conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
            size = conn.execute("SELECT pg_total_relation_size(%s)", (t,)).fetchone()[0]  # type: ignore[index]
            out[t] = {"rows": rows, "bytes": size}
    return out


def _cpu(procs: Sequence[Service]) -> float:
    total = 0.0
    for svc in procs:
        assert svc.process is not None
        times = psutil.Process(svc.process.pid).cpu_times()
        total += times.user + times.system  # the process itself, not its pipeline children
    return total


def _unfinished(api: Service, errors: list[str]) -> bool:
    for status in ("queued", "running"):
        response = api.http.get("/plans", params={"status": status, "limit": 1})
        if response.status_code != 200:
            errors.append(
                f"GET /plans?status={status} answered {response.status_code}: {response.text[:200]}"
            )
            print(f"   ({errors[-1]})")
            return True  # ask again at the next poll
        if response.json()["items"]:
            return True
    return False


def run_layout(root: Path, name: str, runners: int, plans: int, db: str) -> dict[str, Any]:
    create_db(db)
    url = pg_url(db)
    workdir = root / name
    procs: list[Service] = []
    errors: list[str] = []
    try:
        if runners == 1:
            api = start_service(workdir, url, name="serve")
            procs = [api]
        else:
            api = start_service(workdir, url, {"PLANEXE_RUNNER": "false"}, name="serve")
            workers = [
                start_service(workdir, url, command="worker", name=f"worker{i}") for i in range(runners)
            ]
            procs = [api, *workers]
        time.sleep(1.0)  # workers register and start polling
        pids = [p.process.pid for p in procs if p.process is not None]
        groups = {
            "service_processes": lambda: [psutil.Process(pid) for pid in pids if psutil.pid_exists(pid)],
            "children": lambda: [c for pid in pids for c in tree(pid)[1:]],
            "all": lambda: [c for pid in pids for c in tree(pid)],
        }
        counters_before, cpu_before = db_counters(db), _cpu(procs)
        with TreeSampler(groups, interval_s=0.1) as sampler:
            started = time.time()
            ids = [api.submit(f"{PROMPT} #{i}", "fast")["id"] for i in range(plans)]
            # Two small list requests per poll, so the benchmark itself adds little load.
            while _unfinished(api, errors):
                if time.time() - started > 60 * plans:
                    raise RuntimeError(f"{name}: plans still unfinished after {60 * plans} s")
                time.sleep(0.5)
            elapsed = time.time() - started
        cpu = _cpu(procs) - cpu_before
        statuses = {plan_id: api.plan(plan_id) for plan_id in ids}
        counters = {k: v - counters_before[k] for k, v in db_counters(db).items()}
        sizes = db_sizes(db)
    finally:
        for p in procs:
            p.close()
        if errors:  # keep the service logs: the temporary directory goes away
            keep = RESULTS_DIR / f"scale-{name}-{int(time.time())}-logs"
            keep.mkdir(parents=True, exist_ok=True)
            for p in procs:
                shutil.copy(p.log_path, keep / p.log_path.name)
            print(f"   {len(errors)} errors; service logs kept in {keep}")
    failed = [p for p in statuses.values() if p["status"] != "completed"]
    events = sizes["plan_events"]["rows"]
    peaks = {k: v.figures() for k, v in sampler.peaks.items()}
    return {
        "plans": plans,
        "failed": len(failed),
        "elapsed_s": elapsed,
        "plans_per_min": 60 * plans / elapsed,
        "poll_errors": errors,
        "peak_rss_mb": {k: v["peak_rss_mb"] for k, v in peaks.items()},
        "peak_processes": peaks["all"]["peak_processes"],
        "service_cpu_s": cpu,
        "service_cpu_ms_per_plan": 1000 * cpu / plans,
        "service_cpu_ms_per_event": 1000 * cpu / max(1, events),
        "db_per_plan": {
            t: {"rows": v["rows"] / plans, "bytes": v["bytes"] / plans} for t, v in sizes.items()
        },
        "db_bytes_per_plan": sum(v["bytes"] for v in sizes.values()) / plans,
        "db_rows_per_plan": sum(v["rows"] for v in sizes.values()) / plans,
        "db_commits_per_plan": counters["commits"] / plans,
        "db_tuples_written_per_plan": (counters["inserted"] + counters["updated"] + counters["deleted"])
        / plans,
        "events_per_plan": events / plans,
        "commits_per_event": counters["commits"] / max(1, events),
        "plan_run_s_median": median(
            [
                _seconds(p["finished_at"]) - _seconds(p["started_at"])
                for p in statuses.values()
                if p["started_at"] and p["finished_at"]
            ]
        ),
    }


def _seconds(value: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(value).timestamp()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="10 plans per layout (about a minute)")
    p.add_argument("--plans", type=int, default=None, help="plans per layout (default 50, quick 10)")
    p.add_argument("--keep-db", action="store_true", help="leave the benchmark databases in place")
    args = p.parse_args(argv)
    plans = args.plans or (10 if args.quick else 50)
    info = header("scale", plans=plans, database="postgresql 127.0.0.1:5432")
    clock = Stopwatch()
    results: dict[str, Any] = {"machine": info, "options": vars(args) | {"plans": plans}}
    with tempfile.TemporaryDirectory(prefix="planexe-bench-scale-") as tmp:
        for name, runners in (("one_runner", 1), ("two_runners", 2)):
            db = f"planexe_bench_{name}_{os.getpid()}"
            print(f"-- {name.replace('_', ' ')}: {plans} plans (database {db})")
            try:
                r = run_layout(Path(tmp), name, runners, plans, db)
            finally:
                if not args.keep_db:
                    drop_db(db)
            results[name] = r
            rss = r["peak_rss_mb"]
            print(
                f"   {r['plans_per_min']:.1f} plans/min ({r['elapsed_s']:.1f} s, {r['failed']} failed); peak RSS:"
                f" service processes {rss['service_processes']:.0f} MB, children {rss['children']:.0f} MB,"
                f" all {rss['all']:.0f} MB ({r['peak_processes']} processes)"
            )
            print(
                f"   per plan: {r['db_rows_per_plan']:.0f} rows, {r['db_bytes_per_plan'] / 1024:.0f} KiB,"
                f" {r['db_commits_per_plan']:.0f} commits, {r['events_per_plan']:.0f} events;"
                f" service CPU {r['service_cpu_ms_per_plan']:.0f} ms/plan"
            )
    results["runtime_s"] = clock.elapsed()
    one, two = results["one_runner"], results["two_runners"]
    print(
        table(
            [
                ["plans/min", one["plans_per_min"], two["plans_per_min"]],
                ["peak RSS service processes (MB)", one["peak_rss_mb"]["service_processes"], two["peak_rss_mb"]["service_processes"]],
                ["peak RSS children (MB)", one["peak_rss_mb"]["children"], two["peak_rss_mb"]["children"]],
                ["peak RSS all (MB)", one["peak_rss_mb"]["all"], two["peak_rss_mb"]["all"]],
                ["service CPU per plan (ms)", one["service_cpu_ms_per_plan"], two["service_cpu_ms_per_plan"]],
                ["DB rows per plan", one["db_rows_per_plan"], two["db_rows_per_plan"]],
                ["DB KiB per plan", one["db_bytes_per_plan"] / 1024, two["db_bytes_per_plan"] / 1024],
                ["DB commits per plan", one["db_commits_per_plan"], two["db_commits_per_plan"]],
            ],
            ["figure", "one runner", "two runners"],
        )
    )  # fmt: skip
    summary = (
        f"scale: {one['plans_per_min']:.1f} plans/min with one runner, {two['plans_per_min']:.1f} with two;"
        f" peak RSS all {one['peak_rss_mb']['all']:.0f}/{two['peak_rss_mb']['all']:.0f} MB;"
        f" {one['db_bytes_per_plan'] / 1024:.0f} KiB and {one['db_rows_per_plan']:.0f} rows per plan;"
        f" runtime {results['runtime_s']:.0f} s"
    )
    finish("scale", results, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
