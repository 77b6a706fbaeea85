"""The main of the process the service supervises, for the package that owns a DAG.

``python -m planexe.plan --run-dir DIR`` is that process for the plan: its
``__main__`` hands its DAG to ``main`` here, so this package runs any task
graph and never imports the plan. The contract with the supervisor is the
command line, the environment (``LUIGI_WORKERS``, ``PLANEXE_*``) and the run
directory; the exit code says how the run ended (see ``exitcodes.py``).
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from planexe.pipeline.lean_imports import without_optional_modules

with without_optional_modules():
    import httpx  # noqa: F401  (imported here, inside the block, by the LLM providers anyway)
    import luigi  # noqa: F401
    import structlog  # noqa: F401

    from planexe.log import bind_process, configure_logging, get_logger
    from planexe.pipeline import hygiene
    from planexe.pipeline.exitcodes import ExitCode
    from planexe.pipeline.graph import Dag
    from planexe.pipeline.procutil import die_with_parent
    from planexe.pipeline.rundir import read_plan
    from planexe.pipeline.runner import Supervision, run_pipeline
    from planexe.pipeline.workers import resolve_workers
    from planexe.settings import get_settings


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Run a DAG on a run directory with Luigi.")
    parser.add_argument("--run-dir", required=True, type=Path, help="directory holding plan.json")
    parser.add_argument(
        "--workers", type=int, default=None, help="Luigi workers (default: LUIGI_WORKERS or 10)"
    )
    parser.add_argument("--attempt", type=int, default=1, help="attempt number, recorded in every event")
    parser.add_argument(
        "--parent-pid",
        type=int,
        default=None,
        help="exit when this process (the supervisor) dies; set by the service",
    )
    group = parser.add_argument_group("supervision (set by the service)")
    group.add_argument(
        "--lock-wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long for the run directory's lock, stopping an older run of the plan that holds it",
    )
    group.add_argument(
        "--stop-grace", type=float, default=10.0, metavar="SECONDS", help="SIGTERM to SIGKILL grace"
    )
    group.add_argument(
        "--keepalive-timeout",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="stop when stdin (the supervisor's keep-alive) is silent this long; 0: do not watch",
    )
    hygiene.add_arguments(parser)
    return parser


def _plan_id(run_dir: Path) -> dict[str, str]:
    # The runner reports an unreadable plan.json as a configuration error; here it only
    # means the first lines go without the plan's id.
    try:
        return {"plan_id": read_plan(run_dir).plan_id}
    except Exception:
        return {}


def main(dag: Dag, argv: Sequence[str] | None = None, prog: str = "python -m planexe.plan") -> int:
    args = build_parser(prog).parse_args(argv)
    if args.parent_pid:
        # First thing: a supervisor killed during our start-up must not leave us running.
        die_with_parent(expected_parent=args.parent_pid)
    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    if settings.log_level != "debug":
        # Luigi logs several lines per task at INFO; events.jsonl already records
        # each task, and formatting those lines cost ~0.13 s of CPU per plan.
        logging.getLogger("luigi-interface").setLevel(logging.WARNING)
    bind_process(run=args.attempt, **_plan_id(args.run_dir))
    log = get_logger("planexe.pipeline", run_dir=str(args.run_dir))
    choice = resolve_workers(args.workers, os.environ)
    for warning in choice.warnings:
        log.warning("workers_setting", message=warning)
    log.info("workers", workers=choice.count, source=choice.source)
    # With PLANEXE_TASK_ISOLATION=process Luigi forks a process per step; fork keeps the
    # run context built before it, and is not Python's default everywhere.
    multiprocessing.set_start_method("fork", force=True)
    supervision = Supervision(
        lock_wait_s=args.lock_wait,
        stop_grace_s=args.stop_grace,
        keepalive_fd=sys.stdin.fileno() if args.keepalive_timeout > 0 else None,
        keepalive_timeout_s=args.keepalive_timeout,
    )
    result = run_pipeline(
        args.run_dir,
        dag=dag,
        workers=choice.count,
        hygiene=hygiene.from_args(args),
        attempt=args.attempt,
        supervision=supervision,
    )
    level = log.info if result.exit_code is ExitCode.SUCCESS else log.error
    level(
        "pipeline_finished",
        exit_code=int(result.exit_code),
        reason=result.reason,
        failed_tasks=result.failed_tasks,
        duration_s=round(result.duration_s, 3),
    )
    return int(result.exit_code)


def standby(dag: Dag, argv: Sequence[str]) -> int:
    """Be a ready pipeline process: warm up, wait for the supervisor's order, then run it.

    ``argv`` is ``--standby --parent-pid PID``: the process dies with its runner from the
    start, whether or not it is ever given a plan (see ``standby.py``).
    """
    from planexe.pipeline import standby as ready

    args = argparse.ArgumentParser(prog="python -m planexe.plan --standby")
    args.add_argument("--standby", action="store_true")
    args.add_argument("--parent-pid", type=int, required=True)
    parent = args.parse_args(argv).parent_pid
    die_with_parent(expected_parent=parent)
    ready.warm(dag)
    order = ready.wait_for_order()
    if order is None:
        return 0  # the runner stopped (or replaced us) before a plan came
    run_argv, log_path = order
    ready.adopt_log(log_path)
    return main(dag, run_argv)


def exit_now(code: int) -> None:
    """End the process without interpreter teardown.

    Everything this process owes the world is on disk (atomic outputs, one write
    per event line, the lock dies with us). Skipping interpreter teardown of a
    large heap saves ~0.2 s per run.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
