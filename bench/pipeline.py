"""How fast one plan runs: sequential vs ours vs the critical-path bound, and pure overhead.

    .venv/bin/python bench/pipeline.py            # full plan, 1 s per call, ~6 min on 2 cores
    .venv/bin/python bench/pipeline.py --quick    # fast plan, 0.2 s per call, about a minute

Against ``planexe llm-server`` (loopback), with (a) a fixed per-call latency
(1 s) and (b) a log-normal one (median 2 s times ``--scale``, 0.5), three variants each,
with the same server seed for every run:

* sequential: LUIGI_WORKERS=1, PLANEXE_MAX_CONCURRENT_LLM=1;
* ours: LUIGI_WORKERS=10, default concurrency (16 for an OpenAI-compatible server);
* bound: the critical path with zero orchestration cost (see ``_bound.py``).

Then the offline provider with zero latency: what is left is orchestration
(start-up, Luigi, a fork per task, events, file writes) plus the offline
generator's own work. Wall times are spawn -> exit of ``python -m planexe.plan``.
The last line printed is one JSON object (the fixed-latency figures at the top).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import psutil
from _bound import fixed_bound, observed_bound
from _common import BENCH_DIR, Stopwatch, finish, header, median, table
from _runs import PlanTiming, llm_env, run_plan

from planexe.llm.config import HOSTED_CONCURRENCY
from planexe.llm.server.options import ServerOptions
from planexe.plan.graph_command import plan_stats
from planexe.testing.llm_server import LLMServer, llm_server

OURS_WORKERS = 10
REAL_CALL_S = 2.0  # median latency of a real LLM call the issue describes
DEFAULT_CONCURRENCY = HOSTED_CONCURRENCY  # what "ours" runs with against the llm-server (provider openai)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="detail=fast, one run per variant (about a minute)")
    p.add_argument(
        "--detail", choices=["full", "fast"], default=None, help="default: full (fast with --quick)"
    )
    p.add_argument(
        "--latency",
        type=float,
        default=None,
        help="fixed per-call latency, seconds (default 1.0, quick 0.2)",
    )
    p.add_argument("--median", type=float, default=2.0, help="log-normal median before scaling, seconds")
    p.add_argument("--sigma", type=float, default=0.6, help="log-normal sigma")
    p.add_argument(
        "--scale",
        type=float,
        default=None,
        help="multiplies every log-normal latency (default 0.5, quick 0.05)",
    )
    p.add_argument("--seed", type=int, default=7, help="LLM server seed, the same for every variant")
    p.add_argument("--repeat", type=int, default=None, help="runs of 'ours' and of the offline plan (median)")
    p.add_argument("--skip-lognormal", action="store_true")
    p.add_argument(
        "--isolation",
        choices=["process", "thread"],
        default="thread",
        help="PLANEXE_TASK_ISOLATION for every variant (default: thread, the product default)",
    )
    p.add_argument(
        "--probe",
        default=None,
        help="run every variant through bench/_probe.py with these candidate fixes, e.g. preimport,sslctx",
    )
    args = p.parse_args(argv)
    args.detail = args.detail or ("fast" if args.quick else "full")
    args.repeat = args.repeat or (1 if args.quick else 3)
    # Real calls take ~2 s; at a tenth of that, start-up and per-task costs weigh ten
    # times more against the bound than they would in use. The default halves the real
    # latency (a full run takes ~5 min); --quick trades that for a one-minute run.
    args.scale = args.scale or (0.05 if args.quick else 0.5)
    args.latency = args.latency or (0.2 if args.quick else 1.0)
    return args


def probe_env(args: argparse.Namespace, env: dict[str, str]) -> dict[str, str]:
    env = env | {"PLANEXE_TASK_ISOLATION": args.isolation}
    return env | {"PLANEXE_BENCH_PROBE": args.probe} if args.probe is not None else env


def probe_main(args: argparse.Namespace) -> list[str] | None:
    return [str(BENCH_DIR / "_probe.py")] if args.probe is not None else None


def _run_against(
    server: LLMServer, root: Path, args: argparse.Namespace, workers: int, conc: int | None
) -> PlanTiming:
    server.configure(seed=args.seed)  # restart the draws: same latencies for every variant
    server.reset_stats()
    proc = psutil.Process(server.process.pid)
    cpu_before = sum(proc.cpu_times()[:2])
    timing = run_plan(
        root,
        detail=args.detail,
        workers=workers,
        env=probe_env(args, llm_env(server.base_url, conc)),
        main=probe_main(args),
    )
    timing.llm_server_cpu_s = sum(proc.cpu_times()[:2]) - cpu_before
    requests = server.stats()["requests"]
    calls = sum(1 for e in timing.events if e["kind"] == "llm_call")
    if requests != calls:
        raise RuntimeError(f"server saw {requests} requests but the plan logged {calls} LLM calls")
    return timing


def compare(server: LLMServer, root: Path, args: argparse.Namespace, label: str) -> dict[str, Any]:
    options = ServerOptions.model_validate(
        {k: v for k, v in server.options().items() if k in ("latency", "scale", "seed")}
    )
    print(f"-- {label}: latency {options.latency} x scale {options.scale:g}, seed {options.seed}")
    seq = _run_against(server, root, args, workers=1, conc=1)
    print(
        f"   sequential  wall {seq.wall_s:7.2f} s  (dag {seq.dag_s:.2f} s);  CPU: pipeline {seq.cpu_s:.1f} s,"
        f" LLM server {seq.llm_server_cpu_s:.1f} s"
    )
    ours_runs = []
    for i in range(args.repeat):
        run = _run_against(server, root, args, workers=OURS_WORKERS, conc=None)
        bound = observed_bound(run.events, args.detail, DEFAULT_CONCURRENCY, options)
        ours_runs.append((run, bound))
        print(
            f"   ours #{i + 1}     wall {run.wall_s:7.2f} s  (dag {run.dag_s:.2f} s)  bound {bound.bound_s:.2f} s;"
            f"  CPU: pipeline {run.cpu_s:.1f} s, LLM server {run.llm_server_cpu_s:.1f} s"
        )
    ours, ob = sorted(ours_runs, key=lambda rb: rb[0].wall_s)[len(ours_runs) // 2]
    seq_llm = sum(e["duration_s"] for e in seq.events if e["kind"] == "llm_call")
    if options.latency_spec.kind == "fixed":
        bound_s, rounds = fixed_bound(
            args.detail, DEFAULT_CONCURRENCY, options.latency_spec.seconds * options.scale
        )
        bound_how = (
            f"{rounds} critical rounds x {options.latency_spec.seconds * options.scale:g} s (dag_stats)"
        )
    else:
        bound_s, rounds = ob.bound_s, 0
        bound_how = "longest DAG path over the server's drawn per-call latencies (replayed from the seed)"
    # What the run would give at the real median of 2 s per call, holding the measured
    # overheads in seconds fixed (they do not grow with latency): a model, not a run.
    per_call = options.latency_spec.seconds * options.scale if options.latency_spec.kind == "fixed" else 0
    k = REAL_CALL_S / per_call if per_call else 0
    projection = (
        {
            "at_call_s": REAL_CALL_S,
            "sequential_s": seq_llm * k + (seq.wall_s - seq_llm),
            "parallel_s": bound_s * k + (ours.wall_s - bound_s),
            "bound_s": bound_s * k,
        }
        if k
        else {}
    )
    if projection:
        projection["speedup"] = projection["sequential_s"] / projection["parallel_s"]
        projection["efficiency"] = projection["parallel_s"] / projection["bound_s"]
    stats = plan_stats(args.detail, DEFAULT_CONCURRENCY)  # type: ignore[arg-type]
    return {
        "dag_ceiling_speedup": stats.llm_calls / stats.critical_rounds,
        "overhead_over_bound_s": ours.wall_s - bound_s,
        "projection": projection,
        "latency": options.latency,
        "scale": options.scale,
        "seed": options.seed,
        "llm_calls": ob.calls,
        "sequential_s": seq.wall_s,
        "sequential_dag_s": seq.dag_s,
        "sequential_llm_time_s": seq_llm,
        "parallel_s": ours.wall_s,
        "parallel_dag_s": ours.dag_s,
        "parallel_runs_s": [r.wall_s for r, _ in ours_runs],
        "parallel_cpu_s": ours.cpu_s,
        "parallel_llm_server_cpu_s": ours.llm_server_cpu_s,
        "sequential_cpu_s": seq.cpu_s,
        "bound_s": bound_s,
        "bound_how": bound_how,
        "critical_rounds": rounds,
        "observed_bound": ob.figures(),
        "speedup": seq.wall_s / ours.wall_s,
        "efficiency": ours.wall_s / bound_s,
        "efficiency_dag": ours.dag_s / bound_s,
    }


def offline_overhead(root: Path, args: argparse.Namespace) -> dict[str, Any]:
    print(f"-- offline provider, zero latency, {OURS_WORKERS} workers, detail={args.detail}")
    runs = []
    for i in range(args.repeat):
        run = run_plan(
            root,
            detail=args.detail,
            workers=OURS_WORKERS,
            env=probe_env(args, llm_env(None)),
            main=probe_main(args),
        )
        runs.append(run)
        print(
            f"   run #{i + 1}  wall {run.wall_s:.2f} s = start-up {run.startup_s:.2f} + DAG {run.dag_s:.2f}"
            f" + exit {run.exit_s:.2f};  {run.per_task_ms:.1f} ms/task;  CPU {run.cpu_s:.2f} s"
        )
    keys = ("wall_s", "startup_s", "dag_s", "exit_s", "cpu_s", "dag_ms_per_task")
    med = {k: median([r.figures()[k] for r in runs]) for k in keys}
    tasks = runs[0].tasks
    return {
        **med,
        "tasks": tasks,
        "wall_ms_per_task": 1000 * med["wall_s"] / tasks,
        "cpu_ms_per_task": 1000 * med["cpu_s"] / tasks,
        "runs": [r.figures() for r in runs],
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    info = header(
        "pipeline",
        probe=args.probe,
        isolation=args.isolation,
        detail=args.detail,
        latency=args.latency,
        lognormal=f"{args.median}:{args.sigma} x scale {args.scale}",
        seed=args.seed,
        repeat=args.repeat,
    )
    clock = Stopwatch()
    results: dict[str, Any] = {"machine": info, "options": vars(args)}
    with tempfile.TemporaryDirectory(prefix="planexe-bench-pipeline-") as tmp:
        root = Path(tmp)
        with llm_server(latency=f"fixed:{args.latency}", seed=args.seed) as server:
            results["fixed"] = compare(server, root / "fixed", args, "fixed latency")
            if not args.skip_lognormal:
                server.configure(
                    latency=f"lognormal:{args.median}:{args.sigma}", scale=args.scale, seed=args.seed
                )
                results["lognormal"] = compare(server, root / "lognormal", args, "log-normal latency")
        results["overhead"] = offline_overhead(root / "offline", args)
    results["runtime_s"] = clock.elapsed()

    rows = []
    for key in ("fixed", "lognormal"):
        if key in results:
            r = results[key]
            rows.append(
                [
                    key,
                    r["sequential_s"],
                    r["parallel_s"],
                    r["bound_s"],
                    f"{r['speedup']:.2f}x",
                    f"{r['efficiency']:.2f}x",
                ]
            )
    print(table(rows, ["latency", "sequential_s", "ours_s", "bound_s", "speedup", "ours/bound"]))
    f = results["fixed"]
    print(
        f"   the DAG's own ceiling: {f['dag_ceiling_speedup']:.2f}x ({f['llm_calls']} calls / critical rounds);"
        f" ours - bound = {f['overhead_over_bound_s']:.2f} s (fixed)"
    )
    if f["projection"]:
        pr = f["projection"]
        print(
            f"   projected to {pr['at_call_s']:g} s per call with the same overheads (a model, not a run):"
            f" sequential {pr['sequential_s']:.1f} s, ours {pr['parallel_s']:.1f} s, bound {pr['bound_s']:.1f} s"
            f" -> speedup {pr['speedup']:.2f}x, ours/bound {pr['efficiency']:.2f}x"
        )
    o = results["overhead"]
    print(
        f"   offline, zero latency: {o['wall_s']:.2f} s per plan (start-up {o['startup_s']:.2f} s, DAG {o['dag_s']:.2f} s,"
        f" exit {o['exit_s']:.2f} s), {o['dag_ms_per_task']:.1f} ms per task (DAG), {o['cpu_ms_per_task']:.1f} ms CPU per task"
    )
    summary = (
        f"pipeline: speedup {f['speedup']:.2f}x, ours/bound {f['efficiency']:.2f}x (fixed {args.latency:g}s)"
        + (
            f"; log-normal {results['lognormal']['speedup']:.2f}x, {results['lognormal']['efficiency']:.2f}x"
            if "lognormal" in results
            else ""
        )
        + f"; overhead {o['wall_s']:.2f} s/plan, {o['dag_ms_per_task']:.1f} ms/task; runtime {results['runtime_s']:.0f} s"
    )
    last = {k: f[k] for k in ("sequential_s", "parallel_s", "bound_s", "speedup", "efficiency")}
    if "lognormal" in results:
        last |= {
            f"lognormal_{k}": results["lognormal"][k]
            for k in ("sequential_s", "parallel_s", "bound_s", "speedup", "efficiency")
        }
    last |= {
        "overhead_plan_s": o["wall_s"],
        "overhead_ms_per_task": o["dag_ms_per_task"],
        "cores": info["cores"],
    }
    if args.probe is not None:
        summary += f" [with _probe.py patches: {args.probe or 'none'}]"
    if args.isolation != "thread":
        summary += f" [PLANEXE_TASK_ISOLATION={args.isolation}]"
    name = "pipeline" if args.probe is None else "pipeline-probe"
    finish(name if args.isolation == "thread" else f"{name}-{args.isolation}", results, summary, last)
    return 0


if __name__ == "__main__":
    sys.exit(main())
