"""Many plans against one provider's limits: how much of its capacity they use, and how few are refused.

    .venv/bin/python bench/shared_limits.py            # 20 full plans at 1 s per call, ~6 min
    .venv/bin/python bench/shared_limits.py --quick    # 6 fast plans at 0.2 s per call, ~1 min

``planexe llm-server`` stands in for a provider that takes ``--in-flight`` calls at once
(32) and ``--rpm`` requests per minute (1,200: 20 a second, less than the 32 a second
the calls in flight would allow, so the per-minute limit binds). One ``planexe serve``
(SQLite) runs every plan at once (``PLANEXE_MAX_CONCURRENT_PLANS``), in two variants in
the same run, against the same server:

* unconfigured: the limits are not given to PlanExe, so it learns them from the 429s
  (the adaptive limit and the cool-down after each refusal, one broker for the runner);
* configured: ``PLANEXE_LLM_MAX_IN_FLIGHT`` and ``PLANEXE_LLM_REQUESTS_PER_MINUTE`` match
  the provider's.

Before the 20, one plan runs alone (configured) for the first plan's reference time.

Figures: ``refused_share`` (429s / all requests); ``used_capacity``, the calls answered
per second over the provider's rate (``--rpm`` / 60, or calls in flight over latency when
that is lower) from the first call until one plan's time alone before the end (in its
last stretch even a perfect scheduler has only the last plan's critical path left to
run; a sliding window lets the first minute burst above the rate, so a run of a minute or
two can exceed 1); ``at_limit_share``, the share of 0.1 s samples in that span in which
the provider was within 2 % of one of its limits; the first-submitted plan's time over
its time alone; the total time over the bound (total calls / rate); plans completed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _common import PROMPT, Stopwatch, finish, header, table
from _runs import many_plans_env

from planexe.pipeline.events import iter_events
from planexe.pipeline.rundir import EVENTS_FILE
from planexe.testing.llm_server import LLMServer, llm_server
from planexe.testing.service import TERMINAL, Service, service_env

WINDOW_S = 60.0  # the provider's "per minute"


class Saturation(threading.Thread):
    """Samples whether the provider is at one of its limits, every 0.1 s: (time, 0 or 1)."""

    def __init__(self, server: LLMServer, args: argparse.Namespace) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.args = args
        self.samples: list[tuple[float, int]] = []
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.1):
            stats = self.server.stats()
            # Within one call of a limit: between one call's answer and the next one's start the
            # provider is one short for a millisecond, which a sample may catch.
            full = (
                stats["in_flight"] >= self.args.in_flight - 1 or stats["window_requests"] >= self.args.rpm - 1
            )
            self.samples.append((time.time(), int(full)))

    def stop(self) -> None:
        self._done.set()
        self.join()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--quick", action="store_true", help="6 fast plans at 0.2 s per call, 16 in flight, 600 rpm"
    )
    p.add_argument("--plans", type=int, default=None, help="plans submitted at once (default 20, quick 6)")
    p.add_argument("--latency", type=float, default=None, help="seconds per call (default 1.0, quick 0.2)")
    p.add_argument(
        "--in-flight", type=int, default=None, help="the provider's calls in flight (32, quick 16)"
    )
    p.add_argument(
        "--rpm", type=int, default=None, help="the provider's requests per minute (1200, quick 600)"
    )
    p.add_argument("--skip-unconfigured", action="store_true", help="only the configured variant")
    args = p.parse_args(argv)
    quick = args.quick
    args.plans = args.plans or (6 if quick else 20)
    args.latency = args.latency if args.latency is not None else (0.2 if quick else 1.0)
    # A per-minute limit binds only in a run of minutes: the quick run's limit is the calls in flight.
    args.in_flight = args.in_flight or (8 if quick else 32)
    args.rpm = args.rpm or (6000 if quick else 1200)
    args.detail = "fast" if quick else "full"
    return args


def rate_per_s(args: argparse.Namespace) -> float:
    """What the provider can serve: its per-minute limit, or its calls in flight at its latency."""
    return min(args.rpm / WINDOW_S, args.in_flight / args.latency)


def run_plans(
    root: Path, server: LLMServer, args: argparse.Namespace, plans: int, configured: bool
) -> dict[str, Any]:
    extra = many_plans_env(server.base_url, plans)
    if configured:
        extra["PLANEXE_LLM_MAX_IN_FLIGHT"] = str(args.in_flight)
        extra["PLANEXE_LLM_REQUESTS_PER_MINUTE"] = str(args.rpm)
    root.mkdir(parents=True, exist_ok=True)
    service = Service(service_env(f"sqlite:///{root / 'planexe.db'}", root, extra), root).start()
    try:
        server.reset_stats()
        sampler = Saturation(server, args)
        sampler.start()
        started = time.time()
        ids = [service.submit(prompt=f"{PROMPT} #{i}", detail=args.detail)["id"] for i in range(plans)]
        finished: dict[str, dict[str, Any]] = {}
        while len(finished) < plans:
            for plan_id in ids:
                if plan_id not in finished:
                    plan = service.plan(plan_id)
                    if plan["status"] in TERMINAL:
                        finished[plan_id] = plan
            if time.time() - started > 600 + 60 * plans:
                raise RuntimeError("plans still unfinished; see the service log " + str(service.log_path))
            time.sleep(0.25)
        elapsed = time.time() - started
        stats = server.stats()
    finally:
        sampler.stop()
        service.close()
    runs = Path(service.env["PLANEXE_RUNS_DIR"])
    calls = sorted(
        e["ts"]
        for plan_id in ids
        for e in iter_events(runs / plan_id / EVENTS_FILE)
        if e["kind"] == "llm_call" and e["outcome"] == "ok"
    )
    first = finished[ids[0]]
    return {
        "ids": ids,
        "elapsed_s": elapsed,
        "completed": sum(p["status"] == "completed" for p in finished.values()),
        "failed_errors": sorted(
            {
                str((p.get("error") or {}).get("message"))[:160]
                for p in finished.values()
                if p["status"] != "completed"
            }
        ),
        "first_plan_s": _duration(first),
        "stats": stats,
        "answered_at": calls,
        "saturated": sampler.samples,
    }


def _duration(plan: dict[str, Any]) -> float:
    from datetime import datetime

    if not plan.get("finished_at") or not plan.get("created_at"):
        return float("nan")
    return (
        datetime.fromisoformat(plan["finished_at"]) - datetime.fromisoformat(plan["created_at"])
    ).total_seconds()


def figures(run: dict[str, Any], args: argparse.Namespace, alone_s: float) -> dict[str, Any]:
    stats = run["stats"]
    refused = stats["rejected_concurrency"] + stats["rejected_rpm"] + stats["rejected_tpm"]
    answered = run["answered_at"]
    rate = rate_per_s(args)
    used = at_limit = float("nan")
    if answered:
        start, end = answered[0], answered[-1] - alone_s
        if end > start:
            used = sum(start <= t <= end for t in answered) / ((end - start) * rate)
        inside = [busy for at, busy in run["saturated"] if start <= at <= end]
        if inside:
            at_limit = sum(inside) / len(inside)
    total_calls = len(answered)
    bound = total_calls / rate
    return {
        "plans": len(run["ids"]),
        "completed": run["completed"],
        "requests": stats["requests"],
        "refused": refused,
        "refused_share": refused / max(1, stats["requests"]),
        "used_capacity": used,
        "at_limit_share": at_limit,
        "max_in_flight": stats["max_in_flight"],
        "max_requests_per_window": stats["max_requests_per_window"],
        "elapsed_s": run["elapsed_s"],
        "bound_s": bound,
        "total_vs_bound": run["elapsed_s"] / bound if bound else float("nan"),
        "first_plan_s": run["first_plan_s"],
        "first_vs_alone": run["first_plan_s"] / alone_s if alone_s else float("nan"),
        "failed_errors": run["failed_errors"],
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    watch = Stopwatch()
    info = header(
        "shared_limits",
        plans=args.plans,
        detail=args.detail,
        latency_s=args.latency,
        provider_in_flight=args.in_flight,
        provider_rpm=args.rpm,
    )
    results: dict[str, Any] = {}

    def provider() -> Any:
        # A fresh server per variant: its per-minute window starts empty.
        return llm_server(
            latency=f"fixed:{args.latency}",
            max_concurrency=args.in_flight,
            requests_per_minute=args.rpm,
            seed=3,
        )

    with tempfile.TemporaryDirectory(prefix="planexe-bench-limits-") as tmp:
        root = Path(tmp)
        with provider() as server:
            alone_s = run_plans(root / "alone", server, args, 1, configured=True)["first_plan_s"]
        print(f"   one plan alone: {alone_s:.1f} s")
        with provider() as server:
            results["configured"] = figures(
                run_plans(root / "configured", server, args, args.plans, True), args, alone_s
            )
        if not args.skip_unconfigured:
            with provider() as server:
                unconfigured = run_plans(root / "unconfigured", server, args, args.plans, False)
            results["unconfigured"] = figures(unconfigured, args, alone_s)
    rows = [
        [
            name,
            f"{r['completed']}/{args.plans}",
            r["requests"],
            f"{100 * r['refused_share']:.2f}%",
            r["used_capacity"],
            r["at_limit_share"],
            r["max_in_flight"],
            r["max_requests_per_window"],
            r["elapsed_s"],
            r["total_vs_bound"],
            r["first_vs_alone"],
        ]
        for name, r in results.items()
    ]
    print(
        table(
            rows,
            [
                "variant",
                "done",
                "requests",
                "refused",
                "capacity used",
                "at a limit",
                "max in flight",
                "max per min",
                "total s",
                "total/bound",
                "first/alone",
            ],
        )
    )
    ours = results["configured"]
    summary = (
        f"shared_limits: {ours['completed']}/{args.plans} plans, refused {100 * ours['refused_share']:.2f}% "
        f"(goal < 1%), capacity used {ours['used_capacity']:.2f} (goal >= 0.9), first plan "
        f"{ours['first_vs_alone']:.2f}x its time alone, total {ours['total_vs_bound']:.2f}x the bound"
    )
    last = {
        "bench": "shared_limits",
        "plans": args.plans,
        "completed": ours["completed"],
        "refused_share": ours["refused_share"],
        "used_capacity": ours["used_capacity"],
        "at_limit_share": ours["at_limit_share"],
        "first_vs_alone": ours["first_vs_alone"],
        "total_vs_bound": ours["total_vs_bound"],
        "alone_s": alone_s,
        "unconfigured_refused_share": results.get("unconfigured", {}).get("refused_share"),
        "unconfigured_completed": results.get("unconfigured", {}).get("completed"),
        "unconfigured_used_capacity": results.get("unconfigured", {}).get("used_capacity"),
    }
    finish(
        "shared_limits",
        {
            "machine": info,
            "options": vars(args),
            "alone_s": alone_s,
            "results": results,
            "runtime_s": watch.elapsed(),
        },
        summary,
        last,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
