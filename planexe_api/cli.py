"""``planexe serve`` (API + runner) and ``planexe worker`` (runner only)."""

from __future__ import annotations

import argparse
import signal
from collections.abc import Callable
from dataclasses import dataclass

import anyio

from planexe.log import configure_logging, get_logger
from planexe.settings import get_settings

log = get_logger(__name__)


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 in a container)")
    parser.add_argument("--port", type=int, default=8000)
    # planexe demo binds the socket itself (so that it never talks to another server on a busy port)
    # and hands it down: the number of that open file descriptor.
    parser.add_argument("--listen-fd", type=int, default=None, help=argparse.SUPPRESS)


def serve(args: argparse.Namespace) -> int:
    """Settings, the socket, the start-up checks, then uvicorn: see startup.py for why this order."""
    import uvicorn

    from planexe_api import startup
    from planexe_api.app import create_app
    from planexe_api.draining import DrainingServer, draining_flag

    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    sock = (
        startup.inherited(args.listen_fd)
        if args.listen_fd is not None
        else startup.listen(args.host, args.port)
    )
    try:
        startup.check(settings)
        port = sock.getsockname()[1]
        print(
            f"PlanExe is starting on http://{startup.url_host(args.host)}:{port}  (API docs: /docs)",
            flush=True,
        )
        app = create_app(settings)
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=int(settings.cancel_grace_s + 20),
        )
        DrainingServer(config, draining_flag(app)).run(sockets=[sock])
    finally:
        sock.close()
    return 0


def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = "Run plans from the shared database without serving HTTP."


async def _worker_main() -> None:
    from planexe_api.app import build_state
    from planexe_api.db.models import WorkerRole

    settings = get_settings()
    state = await anyio.to_thread.run_sync(lambda: build_state(settings, WorkerRole.WORKER, run_plans=True))
    runner = state.runner
    assert runner is not None
    async with anyio.create_task_group() as tg:
        await runner.start(tg)
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                log.info("worker_stopping", signal=signal.Signals(signum).name)
                break
        with anyio.CancelScope(shield=True):
            await runner.stop()
        tg.cancel_scope.cancel()


def worker(args: argparse.Namespace) -> int:
    # Before logging is set up, as in serve: Alembic and Luigi log lines of their own on import.
    import planexe_api.app  # noqa: F401

    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    # A start-up failure (build_state) leaves as CannotStart, before any plan is claimed.
    anyio.run(_worker_main)
    return 0


@dataclass(frozen=True)
class Command:
    """A ``planexe`` sub-command as its entry point names it (``planexe_api.cli:SERVE``)."""

    HELP: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


SERVE = Command("run the HTTP API (and, unless PLANEXE_RUNNER=false, run plans)", add_serve_arguments, serve)
WORKER = Command("run plans from the shared database, without HTTP", add_worker_arguments, worker)
