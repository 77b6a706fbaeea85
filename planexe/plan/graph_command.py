"""``planexe graph``: the shape of the plan DAG (task count, LLM calls, critical path)."""

from __future__ import annotations

import argparse
import json

from planexe.llm.config import load_llm_config, max_concurrent_llm
from planexe.log import configure_logging
from planexe.pipeline.graph import DagStats, dag_stats, to_mermaid
from planexe.pipeline.rundir import Detail
from planexe.plan.dag import FINAL_TASK
from planexe.settings import get_settings

HELP = "show the plan DAG: task count, LLM calls, critical path"  # the line `planexe --help` shows


def plan_stats(detail: Detail = "full", concurrency: int | None = None) -> DagStats:
    """The plan DAG's figures; without ``concurrency``, at the configured model's calls in flight."""
    if not concurrency:
        settings = get_settings()
        concurrency = max_concurrent_llm(settings, load_llm_config(settings).chain)
    return dag_stats(FINAL_TASK, detail, concurrency)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--detail", choices=["full", "fast"], default="full")
    parser.add_argument("--concurrency", type=int, default=None, help="LLM calls in flight per batch")
    parser.add_argument("--format", choices=["text", "json", "mermaid"], default="text")
    parser.add_argument(
        "--prompts",
        action="store_true",
        help="also make an offline plan (a few seconds) and show each step's largest prompt in tokens",
    )


def _prompt_report(detail: Detail) -> dict[str, object]:
    from planexe.plan.prompt_sizes import REFERENCE_PROMPT, measure, required_window

    configure_logging(get_settings().log_format, "warning")  # the offline plan's own log is noise here
    sizes = measure(detail)
    return {
        "largest_prompts": sizes,
        "context_needed": required_window(detail, REFERENCE_PROMPT),
        "reference_prompt_chars": len(REFERENCE_PROMPT),
    }


def run(args: argparse.Namespace) -> int:
    stats = plan_stats(args.detail, args.concurrency)
    if args.format == "mermaid":
        print(to_mermaid(stats, args.detail))
    elif args.format == "json":
        tasks = [
            {
                "name": c.step_name(),
                "title": c.heading(),
                "llm_calls": c.planned_calls(args.detail),
                "batched": c.batched,
                "depends_on": [d.step_name() for d in c.depends_on],
            }
            for c in stats.tasks
        ]
        body: dict[str, object] = {
            "detail": args.detail,
            "tasks": tasks,
            "task_count": len(tasks),
            "llm_calls": stats.llm_calls,
            "critical_path_llm_rounds": stats.critical_rounds,
            "concurrency": stats.concurrency,
            "critical_path": stats.critical_path,
        }
        if args.prompts:
            body["prompts"] = _prompt_report(args.detail)
        print(json.dumps(body, indent=2))
    else:
        print(f"{len(stats.tasks)} tasks")
        print(f"{stats.llm_calls} LLM calls")
        print(
            f"critical path: {stats.critical_rounds} LLM rounds"
            f" (a batch of N calls takes ceil(N / {stats.concurrency}) rounds)"
        )
        print("  " + " -> ".join(stats.critical_path))
        if args.prompts:
            report = _prompt_report(args.detail)
            sizes: dict[str, int] = report["largest_prompts"]  # type: ignore[assignment]
            print(
                f"largest prompts (estimated tokens, offline plan of a {report['reference_prompt_chars']}-character "
                "description):"
            )
            for step, tokens in list(sizes.items())[:10]:
                print(f"  {tokens:>6,}  {step}")
            print(
                f"context window needed: {report['context_needed']:,} tokens (a longer description needs more)"
            )
    return 0
