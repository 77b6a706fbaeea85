"""``planexe graph``: the shape of the plan DAG.

The critical path is counted in LLM rounds: a single-call step is one round,
and a batch of N calls at concurrency C is ceil(N / C) rounds. With zero
orchestration overhead, a run can finish no faster than critical rounds times
the per-call latency, which is the bound the benchmark compares against.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from functools import lru_cache

from planexe.llm.config import load_llm_config, max_concurrent_llm
from planexe.log import configure_logging
from planexe.pipeline.base import PlanTask
from planexe.pipeline.rundir import Detail
from planexe.settings import get_settings


@dataclass(frozen=True)
class DagStats:
    tasks: list[type[PlanTask]]  # topological order, dependencies first
    edges: list[tuple[str, str]]  # (dependency, dependent) step names
    llm_calls: int
    critical_rounds: int
    critical_path: list[str]  # step names, first to last
    concurrency: int  # calls in flight per batched task the rounds assume


@lru_cache(maxsize=1)
def _classes() -> tuple[type[PlanTask], ...]:
    from planexe.plan.dag import final_task

    order: list[type[PlanTask]] = []
    seen: set[type[PlanTask]] = set()

    def visit(cls: type[PlanTask]) -> None:
        if cls in seen:
            return
        seen.add(cls)
        for dep in cls.depends_on:
            visit(dep)
        order.append(cls)

    visit(type(final_task("/nonexistent")))
    return tuple(order)


def dag_stats(detail: Detail = "full", concurrency: int | None = None) -> DagStats:
    if not concurrency:
        settings = get_settings()
        concurrency = max_concurrent_llm(settings, load_llm_config(settings).chain)
    order = list(_classes())
    best: dict[type[PlanTask], tuple[int, type[PlanTask] | None]] = {}
    for cls in order:
        rounds = cls.planned_rounds(detail, concurrency)
        prev = max(cls.depends_on, key=lambda d: best[d][0], default=None)
        best[cls] = ((best[prev][0] if prev else 0) + rounds, prev)
    end = max(order, key=lambda c: best[c][0])
    path: list[str] = []
    node: type[PlanTask] | None = end
    while node is not None:
        path.append(node.step_name())
        node = best[node][1]
    return DagStats(
        tasks=order,
        edges=[(d.step_name(), c.step_name()) for c in order for d in c.depends_on],
        llm_calls=sum(c.planned_calls(detail) for c in order),
        critical_rounds=best[end][0],
        critical_path=path[::-1],
        concurrency=concurrency,
    )


@lru_cache(maxsize=8)
def remaining_rounds(detail: Detail, concurrency: int) -> dict[str, int]:
    """Per step, the LLM rounds on the longest path from its start to the end of the plan."""
    order = _classes()
    dependents: dict[type[PlanTask], list[type[PlanTask]]] = {cls: [] for cls in order}
    for cls in order:
        for dep in cls.depends_on:
            dependents[dep].append(cls)
    remaining: dict[type[PlanTask], int] = {}
    for cls in reversed(order):
        after = max((remaining[d] for d in dependents[cls]), default=0)
        remaining[cls] = cls.planned_rounds(detail, concurrency) + after
    return {cls.step_name(): rounds for cls, rounds in remaining.items()}


@lru_cache(maxsize=8)
def slack_rounds(detail: Detail, concurrency: int) -> dict[str, int]:
    """Per step, the LLM rounds it may be late without delaying the plan (0 on the critical path)."""
    order = _classes()
    remaining = remaining_rounds(detail, concurrency)
    before: dict[type[PlanTask], int] = {}
    for cls in order:
        before[cls] = max(
            (before[d] + d.planned_rounds(detail, concurrency) for d in cls.depends_on), default=0
        )
    total = max(before[c] + remaining[c.step_name()] for c in order)
    return {c.step_name(): total - before[c] - remaining[c.step_name()] for c in order}


def to_mermaid(stats: DagStats, detail: Detail) -> str:
    lines = ["flowchart TD"]
    on_path = set(stats.critical_path)
    for cls in stats.tasks:
        calls = cls.planned_calls(detail)
        label = f"{cls.step_name()}<br/>{calls} call{'s' if calls != 1 else ''}"
        lines.append(f'    {cls.step_name()}["{label}"]')
    lines += [f"    {a} --> {b}" for a, b in stats.edges]
    lines += [f"    style {name} stroke-width:3px" for name in stats.critical_path if name in on_path]
    return "\n".join(lines)


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
    stats = dag_stats(args.detail, args.concurrency)
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
