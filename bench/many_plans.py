"""A hundred plans on one runner at once: what they cost, and what gives out first.

    .venv/bin/python bench/many_plans.py            # 100 fast plans at 1 s per call, ~3 min
    .venv/bin/python bench/many_plans.py --quick    # 20 fast plans, about a minute

One ``planexe serve`` on a fresh PostgreSQL database (``--sqlite`` for the embedded
one) with ``PLANEXE_MAX_CONCURRENT_PLANS`` = the number of plans, against
``planexe llm-server`` at a fixed latency with no limit. First one plan alone, then all
of them submitted at once. Figures: the time for all over the time of one alone (goal
within 1.5x), peak RSS per running plan (the pipeline processes' RSS over how many run,
at the sample where their sum peaked; goal under 60 MB), service and pipeline CPU per
plan, database commits per plan (PostgreSQL's ``xact_commit``), and the service's peak
file descriptors and database connections.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
from _common import PROMPT, Stopwatch, finish, header, table
from _runs import many_plans_env
from scale import create_db, db_counters, drop_db, pg_url

from planexe.testing.llm_server import llm_server
from planexe.testing.service import TERMINAL, Service, service_env

MB = 1024 * 1024


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="20 plans instead of 100")
    p.add_argument("--plans", type=int, default=None, help="plans at once (default 100, quick 20)")
    p.add_argument("--latency", type=float, default=1.0, help="seconds per call")
    p.add_argument("--sqlite", action="store_true", help="the embedded SQLite database instead of PostgreSQL")
    args = p.parse_args(argv)
    args.plans = args.plans or (20 if args.quick else 100)
    return args


class Sampler(threading.Thread):
    """Every 0.2 s: the pipeline processes (the service's children) and the service's own resources."""

    def __init__(self, service: Service) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(service.process.pid)  # type: ignore[union-attr]
        self.peak_total_mb = 0.0
        self.per_plan_at_peak_mb = 0.0
        self.peak_running = 0
        self.peak_fds = 0
        self.peak_threads = 0
        self.peak_service_rss_mb = 0.0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.2):
            try:
                children = self.process.children()
                self.peak_fds = max(self.peak_fds, self.process.num_fds())
                self.peak_threads = max(self.peak_threads, self.process.num_threads())
                self.peak_service_rss_mb = max(self.peak_service_rss_mb, self.process.memory_info().rss / MB)
            except psutil.Error:
                continue
            total, running = 0, 0
            for child in children:
                try:
                    if "planexe.plan" in " ".join(child.cmdline()):
                        total += child.memory_info().rss
                        running += 1
                except psutil.Error:
                    continue
            self.peak_running = max(self.peak_running, running)
            if running and total / MB > self.peak_total_mb:
                self.peak_total_mb = total / MB
                self.per_plan_at_peak_mb = total / MB / running

    def stop(self) -> None:
        self._done.set()
        self.join()


def cpu(service: Service) -> tuple[float, float]:
    """(the service's own CPU seconds, its reaped children's: the pipelines')."""
    times = psutil.Process(service.process.pid).cpu_times()  # type: ignore[union-attr]
    return times.user + times.system, times.children_user + times.children_system


def run(root: Path, base_url: str, url: str, plans: int) -> dict[str, Any]:
    extra = many_plans_env(base_url, plans)
    root.mkdir(parents=True, exist_ok=True)
    service = Service(service_env(url, root, extra), root).start()
    db = url.rsplit("/", 1)[-1] if url.startswith("postgresql") else None
    try:
        before = db_counters(db) if db else None
        cpu_before = cpu(service)
        sampler = Sampler(service)
        sampler.start()
        started = time.time()
        ids = [service.submit(prompt=f"{PROMPT} #{i}", detail="fast")["id"] for i in range(plans)]
        statuses: dict[str, str] = {}
        errors: list[str] = []
        while len(statuses) < plans:
            for plan_id in ids:
                if plan_id not in statuses:
                    plan = service.plan(plan_id)
                    if plan["status"] in TERMINAL:
                        statuses[plan_id] = plan["status"]
                        if plan["status"] != "completed":
                            errors.append(str((plan.get("error") or {}).get("message"))[:300])
            if time.time() - started > 600 + 10 * plans:
                raise RuntimeError(f"plans unfinished; see {service.log_path}")
            time.sleep(0.5)
        elapsed = time.time() - started
        sampler.stop()
        # The last children are reaped by now (their plans are final).
        service_cpu, pipeline_cpu = (a - b for a, b in zip(cpu(service), cpu_before, strict=True))
        commits = (db_counters(db)["commits"] - before["commits"]) if db and before else None
    finally:
        service.close()
    return {
        "plans": plans,
        "completed": sum(s == "completed" for s in statuses.values()),
        "errors": errors,
        "elapsed_s": elapsed,
        "peak_running": sampler.peak_running,
        "rss_per_running_plan_mb": sampler.per_plan_at_peak_mb,
        "peak_pipeline_rss_mb": sampler.peak_total_mb,
        "service_peak_rss_mb": sampler.peak_service_rss_mb,
        "service_peak_fds": sampler.peak_fds,
        "service_peak_threads": sampler.peak_threads,
        "service_cpu_s_per_plan": service_cpu / plans,
        "pipeline_cpu_s_per_plan": pipeline_cpu / plans,
        "db_commits_per_plan": commits / plans if commits is not None else None,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    watch = Stopwatch()
    info = header(
        "many_plans", plans=args.plans, latency_s=args.latency, db="sqlite" if args.sqlite else "postgres"
    )
    results: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory(prefix="planexe-bench-many-") as tmp,
        llm_server(latency=f"fixed:{args.latency}", seed=5) as server,
    ):
        root = Path(tmp)
        for name, plans in (("alone", 1), ("many", args.plans)):
            db = f"planexe_bench_many_{name}_{os.getpid()}"
            if args.sqlite:
                url = f"sqlite:///{root / name / 'planexe.db'}"
            else:
                create_db(db)
                url = pg_url(db)
            try:
                results[name] = run(root / name, server.base_url, url, plans)
            finally:
                if not args.sqlite:
                    drop_db(db)
            print(f"   {name}: {results[name]['completed']}/{plans} in {results[name]['elapsed_s']:.1f} s")
    alone, many = results["alone"], results["many"]
    ratio = many["elapsed_s"] / alone["elapsed_s"]
    rows = [[k, alone[k], many[k]] for k in many if k not in ("plans", "errors")]
    for error in many["errors"]:
        print(f"   a plan failed: {error}")
    print(table(rows, ["figure", "one alone", f"{args.plans} at once"]))
    summary = (
        f"many_plans: {many['completed']}/{args.plans} plans in {many['elapsed_s']:.1f} s, {ratio:.2f}x one alone "
        f"(goal <= 1.5x); {many['rss_per_running_plan_mb']:.0f} MB RSS per running plan (goal < 60); "
        f"CPU per plan {many['pipeline_cpu_s_per_plan']:.2f} s pipeline + {many['service_cpu_s_per_plan']:.2f} s service"
    )
    last = {
        "bench": "many_plans",
        "plans": args.plans,
        "completed": many["completed"],
        "all_vs_alone": ratio,
        "rss_per_running_plan_mb": many["rss_per_running_plan_mb"],
        "pipeline_cpu_s_per_plan": many["pipeline_cpu_s_per_plan"],
        "service_cpu_s_per_plan": many["service_cpu_s_per_plan"],
        "db_commits_per_plan": many["db_commits_per_plan"],
        "service_peak_fds": many["service_peak_fds"],
    }
    finish(
        "many_plans",
        {"machine": info, "options": vars(args), "results": results, "runtime_s": watch.elapsed()},
        summary,
        last,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
