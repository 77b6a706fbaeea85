"""``planexe run "PROMPT"``: write plan.json and run the pipeline here, with progress."""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import sys
import threading
import time
from pathlib import Path

from planexe.errors import ConfigError, PipelineError
from planexe.llm.config import load_llm_config
from planexe.log import configure_logging
from planexe.pipeline import hygiene
from planexe.pipeline.events import read_events
from planexe.pipeline.exitcodes import ExitCode
from planexe.pipeline.progress import Progress
from planexe.pipeline.rundir import EVENTS_FILE, PLAN_FILE, REPORT_FILE, PlanSpec, read_plan, write_plan
from planexe.pipeline.runner import RunResult, run_pipeline
from planexe.pipeline.workers import resolve_workers
from planexe.plan.dag import PLAN_DAG
from planexe.settings import get_settings

HELP = "make a plan from a prompt, here, with a progress bar"  # the line `planexe --help` shows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt", help="the project idea, one paragraph")
    parser.add_argument("--run-dir", type=Path, default=None, help="where outputs go (default: runs/<slug>)")
    parser.add_argument(
        "--detail", choices=["full", "fast"], default="full", help="fast prunes the detail loops"
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="Luigi workers (default: LUIGI_WORKERS or 10)"
    )
    parser.add_argument("--model", default=None, help="name of a configured LLM model to use first")
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def _default_run_dir(prompt: str) -> Path:
    slug = re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-")[:40] or "plan"
    return Path("runs") / slug


def _prepare(run_dir: Path, spec: PlanSpec) -> str | None:
    """Write plan.json, or check an existing one matches (a resume). Returns an error message."""
    if (run_dir / PLAN_FILE).exists():
        existing = read_plan(run_dir)
        if (existing.prompt, existing.detail) != (spec.prompt, spec.detail):
            return f"{run_dir} already holds a different plan; choose another --run-dir"
        return None
    run_dir.mkdir(parents=True, exist_ok=True)
    write_plan(run_dir, spec)
    return None


def _watch(run_dir: Path, stop: threading.Event, fancy: bool) -> None:
    """Tail events.jsonl and show progress until ``stop`` is set."""
    progress = Progress()
    offset = 0
    path = run_dir / EVENTS_FILE
    if path.exists():
        offset = path.stat().st_size  # only this run's events
    bar = None
    if fancy:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.progress import (
            Progress as Bar,
        )

        bar = Bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        bar.start()
        bar_id = bar.add_task("planning", total=None)
    try:
        while True:
            final_pass = stop.is_set()
            events, offset = read_events(path, offset)
            for event in events:
                progress.apply(event)
                if not fancy and event.get("kind") in ("task_succeeded", "task_failed", "task_timed_out"):
                    print(
                        f"[{len(progress.done)}/{progress.total}] {event['kind'][5:]} {event.get('task')}",
                        flush=True,
                    )
            if bar is not None:
                running = ", ".join(sorted(progress.running)[:3])
                bar.update(
                    bar_id,
                    total=progress.total or None,
                    completed=len(progress.done),
                    description=running or "planning",
                )
            if final_pass:
                return
            stop.wait(0.2)
    finally:
        if bar is not None:
            bar.stop()


def run(args: argparse.Namespace) -> int:
    settings = get_settings()
    configure_logging(settings.log_format, "warning" if not args.quiet else "error")
    # What cannot start leaves as ConfigError: planexe/cli.py prints it in one line, exit 3.
    try:
        # The API's rule for a prompt, in its words (rundir.clean_prompt).
        spec = PlanSpec.from_dict({"prompt": args.prompt, "detail": args.detail, "llm_model": args.model})
    except PipelineError as exc:
        raise ConfigError(str(exc)) from None
    load_llm_config(settings).chain_for(args.model)
    run_dir: Path = args.run_dir or _default_run_dir(spec.prompt)
    problem = _prepare(run_dir, spec)
    if problem:
        raise ConfigError(problem)
    choice = resolve_workers(args.workers, os.environ)
    for warning in choice.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    multiprocessing.set_start_method("fork", force=True)
    stop = threading.Event()
    watcher = None
    if not args.quiet:
        fancy = sys.stdout.isatty()
        watcher = threading.Thread(target=_watch, args=(run_dir, stop, fancy), daemon=True)
        watcher.start()
    started = time.perf_counter()
    try:
        result: RunResult = run_pipeline(
            run_dir,
            dag=PLAN_DAG,
            workers=choice.count,
            hygiene=hygiene.Hygiene(worker_id=f"cli-{os.getpid()}"),
        )
    finally:
        stop.set()
        if watcher is not None:
            watcher.join(timeout=5)
    elapsed = time.perf_counter() - started
    if result.exit_code is ExitCode.SUCCESS:
        print(f"done in {elapsed:.1f}s: {run_dir / REPORT_FILE}")
    elif result.exit_code is ExitCode.REFUSED:
        print(f"refused: {result.reason}", file=sys.stderr)
        print(f"report: {run_dir / REPORT_FILE}", file=sys.stderr)
    else:
        print(f"error: {result.reason} (exit {int(result.exit_code)})", file=sys.stderr)
        if result.failed_tasks:
            print(
                f"failed tasks: {', '.join(result.failed_tasks)}; see {run_dir / EVENTS_FILE}",
                file=sys.stderr,
            )
    return int(result.exit_code)
