"""Peak RSS and PSS of one running plan's process tree with 1, 4, 10 and 20 Luigi workers.

    .venv/bin/python bench/memory.py            # full plan, ~1.5 min
    .venv/bin/python bench/memory.py --quick    # fast plan, about a minute

The plan runs against ``planexe llm-server`` with a fixed latency, so tasks
overlap and every worker has a child process alive at the peak (with zero
latency most tasks end before the next fork). The tree is the pipeline
process and all its descendants (Luigi forks one process per task), sampled
with psutil: RSS and PSS summed over the tree, and the pipeline process alone.
Target: with 10 workers, < 400 MB RSS and < 150 MB PSS.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import BENCH_DIR, Stopwatch, finish, header, table
from _proctree import TreeSampler, tree
from _runs import llm_env, run_plan

from planexe.testing.llm_server import llm_server

TARGET_RSS_MB = 400
TARGET_PSS_MB = 150


def measure(
    root: Path,
    base_url: str,
    detail: str,
    workers: int,
    interval: float,
    probe: str | None = None,
    isolation: str = "process",
) -> dict[str, Any]:
    holder: dict[str, TreeSampler] = {}

    def watch(pid: int) -> TreeSampler:
        sampler = TreeSampler(
            {"tree": lambda: tree(pid), "pipeline_process": lambda: tree(pid)[:1]},
            interval_s=interval,
            pss=True,
        )
        holder["s"] = sampler
        return sampler

    env = llm_env(base_url) | {"PLANEXE_TASK_ISOLATION": isolation}
    main = None
    if probe is not None:  # candidate fixes patched in (see _probe.py)
        env["PLANEXE_BENCH_PROBE"] = probe
        main = [str(BENCH_DIR / "_probe.py")]
    run = run_plan(root, detail=detail, workers=workers, env=env, main=main, watch=watch)
    sampler = holder["s"]
    t, main = sampler.peaks["tree"], sampler.peaks["pipeline_process"]
    return {
        "workers": workers,
        "probe": probe,
        "isolation": isolation,
        "label": f"{workers} {'threads' if isolation == 'thread' else 'forked'}"
        + (f" + {probe}" if probe else ""),
        "tree_peak_rss_mb": t.rss_mb,
        "tree_peak_pss_mb": t.pss_mb,
        "peak_processes": t.processes,
        "pipeline_process_peak_rss_mb": main.rss_mb,
        "pipeline_process_peak_pss_mb": main.pss_mb,
        "samples": sampler.samples,
        "wall_s": run.wall_s,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="detail=fast (about a minute)")
    p.add_argument("--workers", type=int, nargs="*", default=[1, 4, 10, 20])
    p.add_argument(
        "--latency", type=float, default=None, help="fixed per-call latency (default 0.3, quick 0.2)"
    )
    p.add_argument("--interval", type=float, default=0.1, help="seconds between samples")
    p.add_argument(
        "--probe",
        nargs="*",
        default=None,
        help="also run 10 workers with these _probe.py patch sets, e.g. gcfreeze (default: none)",
    )
    p.add_argument(
        "--thread-workers",
        type=int,
        nargs="*",
        default=None,
        help="worker counts to run with PLANEXE_TASK_ISOLATION=thread too (default: 10)",
    )
    args = p.parse_args(argv)
    detail = "fast" if args.quick else "full"
    if args.probe is None:
        args.probe = []
    if args.thread_workers is None:
        args.thread_workers = [10]
    latency = args.latency if args.latency is not None else (0.2 if args.quick else 0.3)
    info = header("memory", detail=detail, latency=latency, workers=args.workers)
    clock = Stopwatch()
    rows = []
    with (
        tempfile.TemporaryDirectory(prefix="planexe-bench-memory-") as tmp,
        llm_server(latency=f"fixed:{latency}") as server,
    ):
        for workers in args.workers:
            r = measure(Path(tmp), server.base_url, detail, workers, args.interval)
            rows.append(r)
            print(
                f"   {workers:2d} workers, forked: tree peak RSS {r['tree_peak_rss_mb']:6.1f} MB, PSS {r['tree_peak_pss_mb']:6.1f} MB"
                f" over {r['peak_processes']} processes; pipeline process RSS {r['pipeline_process_peak_rss_mb']:.1f} MB"
            )
        for workers in args.thread_workers:
            r = measure(Path(tmp), server.base_url, detail, workers, args.interval, isolation="thread")
            rows.append(r)
            print(
                f"   {workers:2d} workers as threads: tree peak RSS {r['tree_peak_rss_mb']:6.1f} MB,"
                f" PSS {r['tree_peak_pss_mb']:6.1f} MB over {r['peak_processes']} processes; wall {r['wall_s']:.2f} s"
            )
        for probe in args.probe:
            r = measure(Path(tmp), server.base_url, detail, 10, args.interval, probe=probe)
            rows.append(r)
            print(
                f"   10 workers + {probe}: tree peak RSS {r['tree_peak_rss_mb']:6.1f} MB, PSS {r['tree_peak_pss_mb']:6.1f} MB"
            )
    print(
        table(
            [[r["label"], r["tree_peak_rss_mb"], r["tree_peak_pss_mb"], r["peak_processes"],
              r["pipeline_process_peak_rss_mb"], r["wall_s"]] for r in rows],
            ["workers", "rss_mb", "pss_mb", "processes", "pipeline_rss_mb", "wall_s"],
        )
    )  # fmt: skip
    results: dict[str, Any] = {
        "machine": info,
        "options": vars(args) | {"detail": detail, "latency": latency},
    }
    results["runs"] = rows
    results["targets"] = {}
    for isolation in ("process", "thread"):
        ten = next(
            (r for r in rows if r["workers"] == 10 and not r["probe"] and r["isolation"] == isolation), None
        )
        if ten:
            results["targets"][isolation] = {
                "rss_10_workers_mb": ten["tree_peak_rss_mb"],
                "rss_met": ten["tree_peak_rss_mb"] < TARGET_RSS_MB,
                "pss_10_workers_mb": ten["tree_peak_pss_mb"],
                "pss_met": ten["tree_peak_pss_mb"] < TARGET_PSS_MB,
            }
    results["runtime_s"] = clock.elapsed()
    summary = (
        "memory: "
        + "; ".join(
            f"{r['label']} workers {r['tree_peak_rss_mb']:.0f} MB RSS / {r['tree_peak_pss_mb']:.0f} MB PSS"
            for r in rows
        )
        + f"; runtime {results['runtime_s']:.0f} s"
    )
    finish("memory", results, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
