"""Luigi's worker and scheduler options, applied and read back.

The names are Luigi's real ones (``luigi/worker.py`` class ``worker``,
``luigi/scheduler.py`` class ``scheduler``); on Luigi's own command line they
are ``--worker-id``, ``--worker-timeout``, ``--worker-keep-alive``,
``--scheduler-retry-count``, ``--scheduler-retry-delay`` and
``--scheduler-remove-delay``, and the pipeline accepts the same flags. Luigi's
``retry_count`` counts failures before a task is disabled, so 2 means one
retry; retries only happen while a keep-alive worker is still asking for work.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import luigi
import luigi.configuration
import luigi.scheduler
import luigi.worker

DEFAULT_WORKER_TIMEOUT_S = 160
DEFAULT_RETRY_COUNT = 2
DEFAULT_RETRY_DELAY_S = 3.0
DEFAULT_REMOVE_DELAY_S = 5.0
# Luigi sleeps wait_interval + uniform(0, wait_jitter) when it has nothing to
# start; its defaults (1 s + up to 5 s) would dominate a run of 60 short tasks.
WAIT_INTERVAL_S = 0.05
WAIT_JITTER_S = 0.02


@dataclass(frozen=True)
class Hygiene:
    worker_id: str = ""
    worker_timeout: int = DEFAULT_WORKER_TIMEOUT_S
    scheduler_retry_count: int = DEFAULT_RETRY_COUNT
    scheduler_retry_delay: float = DEFAULT_RETRY_DELAY_S
    scheduler_remove_delay: float = DEFAULT_REMOVE_DELAY_S
    worker_keep_alive: bool = True
    scheduler_url: str | None = None  # a luigid; None = Luigi's local scheduler

    def as_args(self) -> list[str]:
        """The same options as command-line flags for ``python -m planexe.plan``."""
        args = [
            "--worker-id",
            self.worker_id,
            "--worker-timeout",
            str(self.worker_timeout),
            "--scheduler-retry-count",
            str(self.scheduler_retry_count),
            "--scheduler-retry-delay",
            f"{self.scheduler_retry_delay:g}",
            "--scheduler-remove-delay",
            f"{self.scheduler_remove_delay:g}",
            "--worker-keep-alive" if self.worker_keep_alive else "--no-worker-keep-alive",
        ]
        if self.scheduler_url:
            args += ["--scheduler-url", self.scheduler_url]
        return args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Luigi worker and scheduler")
    group.add_argument("--worker-id", default="", help="Luigi worker id (unique per plan and attempt)")
    group.add_argument(
        "--worker-timeout", type=int, default=DEFAULT_WORKER_TIMEOUT_S, help="seconds per task"
    )
    group.add_argument("--scheduler-retry-count", type=int, default=DEFAULT_RETRY_COUNT)
    group.add_argument("--scheduler-retry-delay", type=float, default=DEFAULT_RETRY_DELAY_S, help="seconds")
    group.add_argument("--scheduler-remove-delay", type=float, default=DEFAULT_REMOVE_DELAY_S, help="seconds")
    group.add_argument(
        "--worker-keep-alive", action=argparse.BooleanOptionalAction, default=True, help="needed for retries"
    )
    group.add_argument("--scheduler-url", default=None, help="URL of a luigid; default: local scheduler")


def from_args(args: argparse.Namespace) -> Hygiene:
    return Hygiene(
        worker_id=args.worker_id,
        worker_timeout=args.worker_timeout,
        scheduler_retry_count=args.scheduler_retry_count,
        scheduler_retry_delay=args.scheduler_retry_delay,
        scheduler_remove_delay=args.scheduler_remove_delay,
        worker_keep_alive=args.worker_keep_alive,
        scheduler_url=args.scheduler_url,
    )


_applied: Hygiene | None = None


def apply(h: Hygiene) -> None:
    """Write the options into Luigi's process-wide config, before ``luigi.build``."""
    global _applied
    _applied = h
    config = luigi.configuration.get_config()
    values = {
        ("worker", "id"): h.worker_id,
        ("worker", "timeout"): str(h.worker_timeout),
        ("worker", "keep_alive"): str(h.worker_keep_alive).lower(),
        ("worker", "wait_interval"): str(WAIT_INTERVAL_S),
        ("worker", "wait_jitter"): str(WAIT_JITTER_S),
        ("worker", "no_install_shutdown_handler"): "true",
        ("worker", "send_failure_email"): "false",
        # Our structlog set-up owns the root logger; Luigi must not add handlers.
        ("core", "no_configure_logging"): "true",
        ("scheduler", "retry_count"): str(h.scheduler_retry_count),
        ("scheduler", "retry_delay"): str(h.scheduler_retry_delay),
        ("scheduler", "remove_delay"): str(h.scheduler_remove_delay),
    }
    for (section, key), value in values.items():
        if not config.has_section(section):
            config.add_section(section)
        config.set(section, key, value)


def retry_count() -> int:
    """The scheduler's retry count, without re-reading Luigi's config each time (~1 ms a read;
    Luigi asks once per task it schedules)."""
    if _applied is not None:
        return _applied.scheduler_retry_count
    return int(luigi.scheduler.scheduler().retry_count)


def effective() -> dict[str, Any]:
    """What Luigi will actually use, read back through its own config classes."""
    w = luigi.worker.worker()
    s = luigi.scheduler.scheduler()
    return {
        "worker_id": w.id,
        "worker_timeout": w.timeout,
        "worker_keep_alive": w.keep_alive,
        "worker_wait_interval": w.wait_interval,
        "scheduler_retry_count": s.retry_count,
        "scheduler_retry_delay": s.retry_delay,
        "scheduler_remove_delay": s.remove_delay,
    }
