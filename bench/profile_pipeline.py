"""Where a plan's time goes with zero LLM latency, and what candidate fixes would save.

    .venv/bin/python bench/profile_pipeline.py           # ~3 min
    .venv/bin/python bench/profile_pipeline.py --quick   # ~1 min

1. Start-up: ``python -X importtime`` of the pipeline's imports, by package.
2. A timeline of one run (Luigi patched from the outside, see ``_probe.py``):
   fork in the parent, fork -> child running, child run, child done -> parent knows.
3. Variants: the same plan with fixes patched in from ``_probe.py``, both with
   the offline provider and against the test LLM server at zero latency (so the
   HTTP client's per-task set-up shows); medians of ``--repeat`` interleaved runs.
   CPU is the whole process tree's (the machine is shared: CPU is steadier than wall).
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import BENCH_DIR, Stopwatch, finish, header, median, percentile, table
from _runs import llm_env, run_plan

from planexe.testing.llm_server import llm_server

PROBE = [str(BENCH_DIR / "_probe.py")]
# preimport, sslctx, noattempt and fastexit went into the product in c890169; they
# stay here so the probe can show what they bought on an older checkout.
DEFAULT_VARIANTS = [
    "",
    "gcfreeze",
    "@1",
    "nofork@1",
]


def import_profile() -> dict[str, Any]:
    """Self time of every module imported at start-up, summed by top-level package."""
    code = "import planexe.plan.__main__, planexe.plan.dag"
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True
    ).stderr
    by_package: collections.Counter[str] = collections.Counter()
    total = 0
    for line in out.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s+)(\S+)", line)
        if not m:
            continue
        self_us, name = int(m.group(1)), m.group(4)
        top = name.split(".")[0]
        if top == "planexe":
            top = ".".join(name.split(".")[:2])
        by_package[top] += self_us
        total += self_us
    return {
        "total_ms": total / 1000,
        "by_package_ms": {k: v / 1000 for k, v in by_package.most_common(14)},
    }


def timeline(root: Path, detail: str) -> dict[str, Any]:
    """Per-task phases of one offline run with 10 workers (and the candidate fixes off)."""
    path = root / "timeline.jsonl"
    path.unlink(missing_ok=True)
    env = llm_env(None) | {"PLANEXE_BENCH_PROBE": "timeline", "PLANEXE_BENCH_TIMELINE": str(path)}
    run = run_plan(root / "tl", detail=detail, workers=10, env=env, main=PROBE)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    by_task: dict[str, dict[str, Any]] = collections.defaultdict(dict)
    for r in records:
        if "id" in r:
            by_task[r["id"]][r["k"]] = r
    phases: dict[str, list[float]] = collections.defaultdict(list)
    for t in by_task.values():
        if "fork" in t:
            phases["fork_call_in_parent"].append(t["fork"]["returned"] - t["fork"]["called"])
        if "child_begin" in t:
            phases["fork_to_child_running"].append(t["child_begin"]["t"] - t["child_begin"]["fork_called"])
        if "child_end" in t:
            phases["child_run"].append(t["child_end"]["t"] - t["child_begin"]["t"])
            if "parent_got" in t:
                phases["child_done_to_parent_knows"].append(t["parent_got"]["t"] - t["child_end"]["t"])
    phases["scheduler_get_work"] = [r["ended"] - r["began"] for r in records if r["k"] == "get_work"]
    summary = {
        name: {
            "median_ms": 1000 * median(v),
            "p90_ms": 1000 * percentile(v, 90),
            "sum_s": sum(v),
            "n": len(v),
        }
        for name, v in phases.items()
    }
    return {"run": run.figures(), "phases": summary}


def variants(root: Path, args: argparse.Namespace, base_url: str | None) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in args.variants}
    for _ in range(args.repeat):  # interleaved, so a burst of load hits every variant alike
        for variant in args.variants:
            patches, _, workers = variant.partition("@")
            env = llm_env(base_url) | {"PLANEXE_BENCH_PROBE": patches}
            run = run_plan(root, detail=args.detail, workers=int(workers or 10), env=env, main=PROBE)
            runs[variant].append(run.figures())
    out = {}
    for variant, rs in runs.items():
        out[variant or "baseline"] = {
            k: median([r[k] for r in rs]) for k in ("wall_s", "startup_s", "dag_s", "cpu_s")
        }
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="detail=fast, fewer variants, one run each")
    p.add_argument("--detail", choices=["full", "fast"], default=None)
    p.add_argument("--repeat", type=int, default=None)
    p.add_argument("--variants", nargs="*", default=None, help="PATCHES[@WORKERS], e.g. preimport,sslctx@10")
    args = p.parse_args(argv)
    args.detail = args.detail or ("fast" if args.quick else "full")
    args.repeat = args.repeat or (1 if args.quick else 3)
    args.variants = (
        args.variants
        if args.variants is not None
        else (
            ["", "preimport,sslctx", "preimport,sslctx,noattempt,gcfreeze,fastexit"]
            if args.quick
            else DEFAULT_VARIANTS
        )
    )
    info = header("profile_pipeline", detail=args.detail, repeat=args.repeat)
    clock = Stopwatch()
    results: dict[str, Any] = {"machine": info, "options": vars(args)}

    results["imports"] = imports = import_profile()
    print(f"-- start-up imports: {imports['total_ms']:.0f} ms (self time, by package)")
    print(table([[k, v] for k, v in imports["by_package_ms"].items()], ["package", "ms"]))

    with tempfile.TemporaryDirectory(prefix="planexe-bench-profile-") as tmp:
        root = Path(tmp)
        results["timeline"] = tl = timeline(root, args.detail)
        print(f"-- one offline run, 10 workers: {tl['run']['dag_s']:.2f} s DAG, per-task phases")
        print(table([[k, v["median_ms"], v["p90_ms"], v["sum_s"], v["n"]] for k, v in tl["phases"].items()],
                    ["phase", "median_ms", "p90_ms", "sum_s", "n"]))  # fmt: skip
        results["offline"] = variants(root / "offline", args, None)
        with llm_server(latency="fixed:0") as server:
            results["llm_server_zero_latency"] = variants(root / "server", args, server.base_url)
    for key in ("offline", "llm_server_zero_latency"):
        print(f"-- variants, {key.replace('_', ' ')} (median of {args.repeat})")
        base = results[key]["baseline"]
        rows = [
            [name, v["wall_s"], v["startup_s"], v["dag_s"], v["cpu_s"], f"{v['cpu_s'] - base['cpu_s']:+.2f}"]
            for name, v in results[key].items()
        ]
        print(table(rows, ["variant", "wall_s", "startup_s", "dag_s", "cpu_s", "cpu_vs_base"]))
    results["runtime_s"] = clock.elapsed()
    off, srv = results["offline"], results["llm_server_zero_latency"]
    best = min(off, key=lambda k: off[k]["wall_s"])
    summary = (
        f"profile: offline {off['baseline']['wall_s']:.2f} s -> {off[best]['wall_s']:.2f} s with {best};"
        f" LLM server zero latency {srv['baseline']['wall_s']:.2f} s -> "
        f"{min(v['wall_s'] for v in srv.values()):.2f} s; runtime {results['runtime_s']:.0f} s"
    )
    finish("profile_pipeline", results, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
