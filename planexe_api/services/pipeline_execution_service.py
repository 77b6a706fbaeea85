"""Builds what a pipeline child is started with: run directory, command, environment.

The contract with the child is ``python -m planexe.plan`` plus Luigi's
worker hygiene flags, the environment (``LUIGI_WORKERS``, ``PLANEXE_*``) and
the run directory. ``run`` below is the plan's fencing token: it grows with
every claim and is never reset (unlike the attempt count, which a resume
resets), so it is what makes the Luigi worker id and the child's event
``attempt`` field unique per run. Worker count precedence: an operator's valid
``LUIGI_WORKERS`` > this service's default 10 (injected, so every child logs
where its count came from) > the pipeline's own fallback 10.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from planexe.log import get_logger
from planexe.pipeline.hygiene import (
    DEFAULT_REMOVE_DELAY_S,
    DEFAULT_RETRY_COUNT,
    DEFAULT_RETRY_DELAY_S,
    DEFAULT_WORKER_TIMEOUT_S,
    Hygiene,
)
from planexe.pipeline.rundir import LOG_FILE, PlanSpec, write_plan
from planexe.pipeline.workers import ENV_VAR as WORKERS_ENV
from planexe.pipeline.workers import resolve_workers
from planexe.settings import Settings

log = get_logger(__name__)

LOCK_WAIT_MARGIN_S = 10.0  # past the stop grace, for an older run of the plan to let go of its lock


@dataclass(frozen=True)
class LaunchSpec:
    argv: list[str]
    env: dict[str, str]
    run_dir: Path
    log_path: Path
    worker_id: str
    keepalive_interval_s: float  # how often the supervisor writes to the child's stdin


class PipelineExecutionService:
    def __init__(
        self,
        settings: Settings,
        environ: Mapping[str, str] | None = None,
        python: str = sys.executable,
    ) -> None:
        self.settings = settings
        self.environ = dict(os.environ if environ is None else environ)
        self.python = python
        self.workers = self._resolve_workers()
        self.child_env: dict[str, str] = {}  # set by the runner: its permit broker's socket

    def _resolve_workers(self) -> str:
        # The pipeline's own rule, so the two cannot disagree: unset or malformed gives 10 (the
        # latter with a warning), and a valid value other than 10 passes with a warning.
        choice = resolve_workers(None, self.environ)
        for warning in choice.warnings:
            log.warning("luigi_workers_setting", message=warning)
        return str(choice.count)

    def run_dir(self, plan_id: str) -> Path:
        return (self.settings.runs_dir / plan_id).resolve()

    def prepare_run_dir(self, spec: PlanSpec) -> Path:
        """Create the run directory and (re)write plan.json; existing outputs are kept for resume."""
        run_dir = self.run_dir(spec.plan_id)
        run_dir.mkdir(parents=True, exist_ok=True)
        write_plan(run_dir, spec)
        return run_dir

    def hygiene(self, plan_id: str, run: int) -> Hygiene:
        return Hygiene(
            worker_id=f"planexe-{plan_id}-r{run}-{socket.gethostname()}",
            worker_timeout=DEFAULT_WORKER_TIMEOUT_S,
            scheduler_retry_count=DEFAULT_RETRY_COUNT,
            scheduler_retry_delay=DEFAULT_RETRY_DELAY_S,
            scheduler_remove_delay=DEFAULT_REMOVE_DELAY_S,
            worker_keep_alive=True,
            scheduler_url=self.settings.luigi_scheduler_url,
        )

    def build_command(self, plan_id: str, run: int, parent_pid: int | None = None) -> list[str]:
        return [
            self.python,
            "-m",
            "planexe.plan",
            "--run-dir",
            str(self.run_dir(plan_id)),
            "--attempt",
            str(run),
            "--parent-pid",
            str(parent_pid if parent_pid is not None else os.getpid()),
            # A child that hears nothing from us for a whole lease stops itself: by then another
            # runner may own the plan (we are frozen), and two pipelines must not run it at once.
            "--keepalive-timeout",
            f"{self.settings.lease_s:g}",
            "--stop-grace",
            f"{self.settings.cancel_grace_s:g}",
            "--lock-wait",
            f"{self.settings.cancel_grace_s + LOCK_WAIT_MARGIN_S:g}",
            *self.hygiene(plan_id, run).as_args(),
        ]

    def build_env(self) -> dict[str, str]:
        env = dict(self.environ)
        env[WORKERS_ENV] = self.workers
        env.update(self.child_env)
        env["PYTHONUNBUFFERED"] = "1"
        # The child's log goes to a file: JSON lines whatever a terminal says.
        env["PLANEXE_LOG_FORMAT"] = "json"
        return env

    def launch_spec(self, spec: PlanSpec, run: int, parent_pid: int | None = None) -> LaunchSpec:
        run_dir = self.prepare_run_dir(spec)
        return LaunchSpec(
            argv=self.build_command(spec.plan_id, run, parent_pid),
            env=self.build_env(),
            run_dir=run_dir,
            log_path=run_dir / LOG_FILE,
            worker_id=self.hygiene(spec.plan_id, run).worker_id,
            keepalive_interval_s=min(1.0, self.settings.lease_s / 4),
        )
