"""Where a plan's time goes along its critical path, step by step.

    .venv/bin/python bench/critical_path.py [--latency 0.2] [--detail full] [--isolation thread]

One plan against ``planexe llm-server`` at a fixed latency, then, from its
events.jsonl, for every step on the critical path (``dag_stats``): the wait
between its last dependency's success and its own start (``gap``: scheduling,
and a free worker), its run time, the slowest of its LLM calls, and what the
run took beyond that call (loading inputs, parsing and validating answers,
writing the output). Also the LLM server's peak number of calls in flight.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import finish, header, table
from _runs import llm_env, run_plan

from planexe.plan.graph_command import plan_stats
from planexe.testing.llm_server import llm_server


def step_timeline(events: list[dict[str, Any]], detail: str) -> tuple[list[dict[str, Any]], list[float]]:
    """Rows for the critical path, and the start gap of every step of the plan."""
    stats = plan_stats(detail)  # type: ignore[arg-type]
    needs = {cls.step_name(): [d.step_name() for d in cls.depends_on] for cls in stats.tasks}
    started = {e["task"]: e["ts"] for e in events if e["kind"] == "task_started"}
    done = {e["task"]: e["ts"] for e in events if e["kind"] == "task_succeeded"}
    calls: dict[str, list[float]] = {}
    for e in events:
        if e["kind"] == "llm_call":
            calls.setdefault(e["task"], []).append(e["duration_s"])
    run_started = next(e["ts"] for e in events if e["kind"] == "run_started")

    def gap(name: str) -> float:
        return started[name] - max((done[d] for d in needs[name]), default=run_started)

    rows = []
    for name in stats.critical_path:
        run = done[name] - started[name]
        slowest = max(calls.get(name, [0.0]))
        rows.append(
            {
                "step": name,
                "gap_ms": 1000 * gap(name),
                "run_ms": 1000 * run,
                "calls": len(calls.get(name, [])),
                "slowest_call_ms": 1000 * slowest,
                "beyond_call_ms": 1000 * (run - slowest),
            }
        )
    return rows, [gap(name) for name in started]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--latency", type=float, default=0.2, help="fixed per-call latency, seconds")
    p.add_argument("--detail", choices=["full", "fast"], default="full")
    p.add_argument("--isolation", choices=["thread", "process"], default="thread")
    args = p.parse_args(argv)
    info = header("critical_path", **vars(args))
    with (
        tempfile.TemporaryDirectory(prefix="planexe-bench-critical-") as tmp,
        llm_server(latency=f"fixed:{args.latency}", seed=7) as server,
    ):
        env = llm_env(server.base_url) | {"PLANEXE_TASK_ISOLATION": args.isolation}
        run = run_plan(Path(tmp), detail=args.detail, workers=10, env=env)
        in_flight = server.stats()["max_in_flight"]
    rows, gaps = step_timeline(run.events, args.detail)
    print(
        table(
            [[r["step"], r["gap_ms"], r["run_ms"], r["calls"], r["slowest_call_ms"], r["beyond_call_ms"]] for r in rows],
            ["step", "gap_ms", "run_ms", "calls", "slowest_call_ms", "beyond_call_ms"],
        )
    )  # fmt: skip
    ordered = sorted(gaps)
    figures = {
        "machine": info,
        "options": vars(args),
        "wall_s": run.wall_s,
        "startup_s": run.startup_s,
        "dag_s": run.dag_s,
        "critical_path": rows,
        "sum_gap_s": sum(r["gap_ms"] for r in rows) / 1000,
        "sum_beyond_call_s": sum(r["beyond_call_ms"] for r in rows) / 1000,
        "all_steps_gap_median_ms": 1000 * statistics.median(gaps),
        "all_steps_gap_p90_ms": 1000 * ordered[int(0.9 * (len(ordered) - 1))],
        "llm_max_in_flight": in_flight,
    }
    summary = (
        f"critical_path: wall {run.wall_s:.2f} s (start-up {run.startup_s:.2f} s); on the path, gaps"
        f" {figures['sum_gap_s']:.3f} s and {figures['sum_beyond_call_s']:.3f} s beyond the slowest call;"
        f" every step's gap p50 {figures['all_steps_gap_median_ms']:.1f} ms p90 {figures['all_steps_gap_p90_ms']:.1f} ms;"
        f" {in_flight} LLM calls in flight at peak"
    )
    finish("critical_path", figures, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
