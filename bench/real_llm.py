"""A real model end to end: a plan against ``planexe local-llm`` (llama.cpp + SmolLM2-135M).

    .venv/bin/python bench/real_llm.py               # a fast plan with local-llm's defaults
    .venv/bin/python bench/real_llm.py --baseline 1  # and first one call as PlanExe made it before

Starts ``planexe local-llm`` with its defaults (only the port is chosen here), points a fresh
``python -m planexe.plan`` run at it with the settings the server prints, and waits for the
end. Figures: wall time, exit code and whether the report was written, LLM calls and attempts
per call, truncations, context errors and repaired answers, tokens (the server's counts), the
largest prompts (the server's count and PlanExe's estimate, and how close the estimate is),
and the slowest steps. ``--baseline N`` first sends the locations step's prompt N times as
PlanExe sent it before its schemas were bounded (no maxLength, no max_tokens) and N times as it
sends it now, to count truncations before and after in the same run. SmolLM2 on two busy
cores decodes ~5-15 tokens a second under a grammar: a fast plan takes the better part of an
hour. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx
from _common import PROMPT, Stopwatch, finish, header, table

from planexe.llm.local_server import (
    DEFAULT_TIMEOUT_S,
    SMOLLM2_ALIAS,
    ServerOptions,
    find_smollm2_model,
    planexe_settings,
)
from planexe.llm.schema_bounds import max_answer_tokens
from planexe.pipeline.events import read_events
from planexe.pipeline.rundir import EVENTS_FILE, LOG_FILE, REPORT_FILE, PlanSpec, write_plan
from planexe.testing.local_llm import local_llm_server

DEFAULT_WORKERS = 4  # Luigi workers: their calls take turns for the server's 2 slots


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--detail", choices=["fast", "full"], default="fast")
    p.add_argument("--prompt", default=PROMPT)
    p.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="LUIGI_WORKERS for the plan")
    p.add_argument("--timeout-s", type=float, default=DEFAULT_TIMEOUT_S, help="PLANEXE_LLM_TIMEOUT_S")
    p.add_argument("--baseline", type=int, default=0, metavar="N", help="before/after samples of one call")
    p.add_argument("--run-dir", type=Path, default=None, help="keep the run here (default: a temp dir)")
    p.add_argument(
        "--report",
        type=Path,
        default=None,
        metavar="RUN_DIR",
        help="run nothing: print the figures of an earlier run kept with --run-dir",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="llama.cpp's CPU threads (default: local-llm's); 1 leaves a core to others on a shared machine",
    )
    return p.parse_args(argv)


def _unbounded(schema: Any) -> Any:
    """The schema as PlanExe sent it before: no string length bounds."""
    if isinstance(schema, dict):
        return {k: _unbounded(v) for k, v in schema.items() if k != "maxLength"}
    if isinstance(schema, list):
        return [_unbounded(v) for v in schema]
    return schema


def baseline(base_url: str, samples: int, timeout_s: float) -> dict[str, Any]:
    """The locations call (the one that never ended in the issue) before and after the bounds."""
    from planexe.plan.locations import LOCATIONS_SYSTEM, LocationsOutput

    messages = [
        {"role": "system", "content": LOCATIONS_SYSTEM},
        {"role": "user", "content": f"# Project description\n{PROMPT}"},
    ]
    bounded = LocationsOutput.model_json_schema()
    variants = {
        "before": {"schema": _unbounded(copy.deepcopy(bounded))},
        "after": {"schema": bounded, "max_tokens": max_answer_tokens(bounded)},
    }
    out: dict[str, Any] = {}
    with httpx.Client(base_url=base_url, timeout=timeout_s) as http:
        for name, variant in variants.items():
            rows = []
            for _ in range(samples):
                body: dict[str, Any] = {
                    "model": "smollm2",
                    "temperature": 0.2,
                    "messages": messages,
                    "response_format": {
                        "type": "json_schema",
                        "json_schema": {
                            "name": "LocationsOutput",
                            "schema": variant["schema"],
                            "strict": False,
                        },
                    },
                }
                if "max_tokens" in variant:
                    body["max_tokens"] = variant["max_tokens"]
                started = time.perf_counter()
                answer = http.post("/chat/completions", json=body).json()
                choice = answer["choices"][0]
                try:
                    LocationsOutput.model_validate_json(choice["message"]["content"])
                    valid = True
                except ValueError:
                    valid = False
                rows.append(
                    {
                        "seconds": time.perf_counter() - started,
                        "finish_reason": choice.get("finish_reason"),
                        "completion_tokens": answer.get("usage", {}).get("completion_tokens"),
                        "chars": len(choice["message"]["content"]),
                        "valid": valid,
                    }
                )
            out[name] = {
                "truncated": sum(r["finish_reason"] == "length" for r in rows),
                "valid": sum(r["valid"] for r in rows),
                "samples": rows,
            }
    return out


def run_plan(base_url: str, run_dir: Path, args: argparse.Namespace) -> tuple[int, float]:
    run_dir.mkdir(parents=True, exist_ok=True)
    write_plan(run_dir, PlanSpec(prompt=args.prompt, detail=args.detail, plan_id="real-llm"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLANEXE_")}
    # What `planexe local-llm` prints to paste (with its defaults), plus the workers the docs suggest.
    env |= planexe_settings(base_url, ServerOptions(model=find_smollm2_model(), alias=SMOLLM2_ALIAS))
    env |= {
        "PLANEXE_LLM_TIMEOUT_S": f"{args.timeout_s:g}",
        "LUIGI_WORKERS": str(args.workers),
        "PLANEXE_LOG_FORMAT": "json",
    }
    started = time.perf_counter()
    with (run_dir / LOG_FILE).open("ab") as log:
        code = subprocess.call(
            [sys.executable, "-m", "planexe.plan", "--run-dir", str(run_dir)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return code, time.perf_counter() - started


def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def closest_to_cap(ok: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The answer that came nearest its max_tokens: how much room the derived caps leave."""
    capped = [e for e in ok if e.get("max_tokens") and e.get("completion_tokens")]
    if not capped:
        return None
    e = max(capped, key=lambda e: e["completion_tokens"] / e["max_tokens"])
    share = e["completion_tokens"] / e["max_tokens"]
    return {
        "step": e["step"],
        "tokens": e["completion_tokens"],
        "max_tokens": e["max_tokens"],
        "share": round(share, 3),
    }


def figures_of(run_dir: Path) -> dict[str, Any]:
    events, _ = read_events(run_dir / EVENTS_FILE)
    # An answer taken from a checkpoint (the same prompt asked twice, or an earlier run's) is no call.
    reused = [e for e in events if e["kind"] == "llm_call" and e.get("cached")]
    calls = [e for e in events if e["kind"] == "llm_call" and not e.get("cached")]
    ok = [e for e in calls if e["outcome"] == "ok"]
    outcomes = Counter(e["outcome"] for e in calls)
    repairs = Counter(r for e in calls for r in e.get("repairs", []))
    by_step: dict[str, float] = defaultdict(float)
    for e in events:
        if e["kind"] == "task_succeeded" and e.get("duration_s") is not None:
            by_step[e["task"]] = float(e["duration_s"])
    largest = sorted(ok, key=lambda e: -int(e.get("prompt_tokens") or 0))[:5]
    ratios = [e["prompt_tokens_est"] / e["prompt_tokens"] for e in ok if e.get("prompt_tokens")]
    finished: dict[str, Any] = next((e for e in reversed(events) if e["kind"] == "run_finished"), {})
    return {
        "exit_code": finished.get("exit_code"),
        "reason": finished.get("reason"),
        "report_written": (run_dir / REPORT_FILE).exists(),
        "tasks_succeeded": sum(e["kind"] == "task_succeeded" for e in events),
        "calls": len(ok),
        "attempts": len(calls),
        "answers_reused": len(reused),
        "attempts_per_call": len(calls) / len(ok) if ok else None,
        "outcomes": dict(outcomes),
        "truncations": outcomes.get("truncated", 0),
        "context_exceeded": outcomes.get("context_exceeded", 0),
        "repairs": dict(repairs),
        "prompt_tokens": sum(int(e.get("prompt_tokens") or 0) for e in calls),
        "completion_tokens": sum(int(e.get("completion_tokens") or 0) for e in calls),
        "largest_prompt_tokens": int(largest[0]["prompt_tokens"]) if largest else None,
        "largest_prompts": [
            {"step": e["step"], "tokens": e["prompt_tokens"], "estimated": e["prompt_tokens_est"]}
            for e in largest
        ],
        "estimate_over_actual": {
            "min": min(ratios) if ratios else None,
            "median": median(ratios),
            "max": max(ratios) if ratios else None,
        },
        "call_seconds_median": sorted(e["duration_s"] for e in ok)[len(ok) // 2] if ok else None,
        # Answer tokens over the call's time (reading the prompt included), with the other slot busy.
        "answer_tokens_per_s_median": median(
            [int(e.get("completion_tokens") or 0) / e["duration_s"] for e in ok if e["duration_s"] > 0]
        ),
        "run_s": (events[-1]["ts"] - events[0]["ts"]) if events else None,
        "closest_to_cap": closest_to_cap(ok),
        "slowest_steps": sorted(by_step.items(), key=lambda kv: -kv[1])[:5],
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    watch = Stopwatch()
    info = header(
        "real_llm", detail=args.detail, workers=args.workers, threads=args.threads, baseline=args.baseline
    )
    figures: dict[str, Any] = {"machine": info, "options": vars(args) | {"run_dir": str(args.run_dir)}}
    if args.report is not None:
        plan = figures_of(args.report)
        code, wall = plan["exit_code"], plan["run_s"] or 0.0
        figures |= {"report_of": str(args.report)}
        return report(args, figures, plan, code, wall)
    with tempfile.TemporaryDirectory(prefix="planexe-real-llm-") as tmp:
        run_dir = args.run_dir or Path(tmp) / "run"
        # local-llm's defaults: the bench sets no --ctx, --parallel or --max-tokens (and --threads
        # only when asked, to share the machine).
        with local_llm_server(threads=args.threads, ctx=None, max_tokens=None, parallel=None) as base_url:
            if args.baseline:
                figures["baseline"] = baseline(base_url, args.baseline, args.timeout_s)
                b = figures["baseline"]
                print(
                    f"   locations call, {args.baseline} each: truncated before {b['before']['truncated']}, "
                    f"after {b['after']['truncated']}; valid before {b['before']['valid']}, "
                    f"after {b['after']['valid']}"
                )
            code, wall = run_plan(base_url, run_dir, args)
        plan = figures_of(run_dir)
    figures |= {"bench_s": watch.elapsed()}
    return report(args, figures, plan, code, wall)


def report(
    args: argparse.Namespace, figures: dict[str, Any], plan: dict[str, Any], code: int, wall: float
) -> int:
    figures |= {"wall_s": wall, "pipeline_exit": code, "plan": plan}
    rows = [
        ["wall time", f"{wall:.0f} s"],
        ["exit code / report", f"{code} / {'written' if plan['report_written'] else 'missing'}"],
        ["LLM calls / attempts", f"{plan['calls']} / {plan['attempts']}"],
        ["answers reused (same prompt)", plan["answers_reused"]],
        ["attempts per call", plan["attempts_per_call"]],
        ["truncations / context errors", f"{plan['truncations']} / {plan['context_exceeded']}"],
        ["repaired answers", json.dumps(plan["repairs"])],
        ["tokens prompt / completion", f"{plan['prompt_tokens']:,} / {plan['completion_tokens']:,}"],
        ["largest prompt (server count)", plan["largest_prompt_tokens"]],
        ["estimate / server count (median)", plan["estimate_over_actual"]["median"]],
        ["median call", f"{plan['call_seconds_median']} s"],
        ["answer tokens per second of a call (median)", plan["answer_tokens_per_s_median"]],
        ["answer nearest its cap", json.dumps(plan["closest_to_cap"])],
    ]
    print(table(rows, ["figure", "value"]))
    for item in plan["largest_prompts"]:
        print(f"   prompt {item['tokens']:>6} tokens (estimated {item['estimated']}): {item['step']}")
    summary = (
        f"real_llm: {args.detail} plan on SmolLM2 {'completed' if code == 0 else f'exit {code}'} in {wall:.0f} s, "
        f"{plan['calls']} calls, {plan['attempts_per_call'] or 0:.2f} attempts per call, "
        f"{plan['truncations']} truncations, largest prompt {plan['largest_prompt_tokens']} tokens"
    )
    last = {
        "bench": "real_llm",
        "detail": args.detail,
        "completed": code == 0 and plan["report_written"],
        "wall_s": wall,
        "calls": plan["calls"],
        "attempts_per_call": plan["attempts_per_call"],
        "truncations": plan["truncations"],
        "context_exceeded": plan["context_exceeded"],
        "prompt_tokens": plan["prompt_tokens"],
        "completion_tokens": plan["completion_tokens"],
        "largest_prompt_tokens": plan["largest_prompt_tokens"],
    }
    if "baseline" in figures:
        last["locations_truncated_before"] = figures["baseline"]["before"]["truncated"]
        last["locations_truncated_after"] = figures["baseline"]["after"]["truncated"]
    finish("real_llm", figures, summary, last)
    return 0 if last["completed"] else 1


if __name__ == "__main__":
    sys.exit(main())
