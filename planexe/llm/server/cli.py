"""``planexe llm-server``: serve the test LLM app with uvicorn on loopback."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from planexe.llm.server.options import ServerOptions
from planexe.log import configure_logging, get_logger

HELP = "run an OpenAI-compatible test server with latency and faults"  # the line `planexe --help` shows

DEFAULT_PORT = 8199
GRACEFUL_SHUTDOWN_S = 2  # in-flight requests (a hang may last 30 s) are cancelled after this
_FAULT_KINDS = ("429", "500", "hang", "malformed", "invalid")
_QUIRK_KINDS = ("fenced", "think", "prose", "truncated", "no-usage")


def _help(name: str) -> str:
    return ServerOptions.model_fields[name].description or ""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # Defaults are None so that ServerOptions stays the one place that holds them.
    parser.add_argument("--host", default="127.0.0.1", help="Address to bind (default: loopback only).")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="Port; 0 picks a free one.")
    parser.add_argument("--port-file", type=Path, help="Write the bound port here once serving.")
    parser.add_argument("--model", dest="models", action="append", metavar="NAME", help=_help("models"))
    parser.add_argument("--latency", metavar="SPEC", help=_help("latency") + " Default fixed:0.")
    parser.add_argument("--scale", type=float, help=_help("scale"))
    parser.add_argument("--seed", type=int, help=_help("seed"))
    for kind in _FAULT_KINDS:
        parser.add_argument(f"--rate-{kind}", type=float, metavar="P", help=_help(f"rate_{kind}"))
    for kind in _QUIRK_KINDS:
        name = f"rate_{kind.replace('-', '_')}"
        parser.add_argument(f"--rate-{kind}", dest=name, type=float, metavar="P", help=_help(name))
    parser.add_argument("--strict-schemas", action="store_true", default=None, help=_help("strict_schemas"))
    parser.add_argument("--context-tokens", type=int, help=_help("context_tokens"))
    parser.add_argument("--hang-s", type=float, help=_help("hang_s"))
    parser.add_argument("--retry-after-s", type=float, help=_help("retry_after_s"))
    parser.add_argument("--max-concurrency", type=int, help=_help("max_concurrency"))
    parser.add_argument("--requests-per-minute", type=int, metavar="N", help=_help("requests_per_minute"))
    parser.add_argument("--tokens-per-minute", type=int, metavar="N", help=_help("tokens_per_minute"))
    parser.add_argument("--limit-window-s", type=float, metavar="S", help=_help("limit_window_s"))
    parser.add_argument(
        "--reject-json-schema", action="store_true", default=None, help=_help("reject_json_schema")
    )
    parser.add_argument("--record-requests", type=int, metavar="N", help=_help("record_requests"))
    parser.add_argument("--refuse-plans", action="store_true", default=None, help=_help("refuse_plans"))
    parser.add_argument("--api-key", help=_help("api_key"))
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])


def options_from_args(args: argparse.Namespace) -> ServerOptions:
    given = {name: getattr(args, name, None) for name in ServerOptions.model_fields}
    return ServerOptions.model_validate({k: v for k, v in given.items() if v is not None})


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must be IPPROTO_TCP, not 0: asyncio only sets TCP_NODELAY on such sockets, and
    # without it every response waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _write_atomic(path: Path, text: str) -> None:
    # Readers poll for the file: they must never see it half written.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


async def _serve(server: Any, sock: socket.socket, port_file: Path | None, log: Any) -> None:
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.01)
    if server.started:
        port = sock.getsockname()[1]
        if port_file is not None:
            _write_atomic(port_file, f"{port}\n")
        log.info("llm_server_listening", port=port)
    await task


def _stop_requested(signum: int, frame: object) -> None:
    # uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown; a stop we were asked for is success.
    raise SystemExit(0)


def run(args: argparse.Namespace) -> int:
    import uvicorn  # here, so that `planexe --help` does not import the server stack

    from planexe.llm.server.app import create_app

    configure_logging(level=args.log_level)
    log = get_logger("planexe.llm.server", host=args.host)
    try:
        options = options_from_args(args)
    except ValidationError as exc:
        err = exc.errors()[0]
        print(
            f"planexe llm-server: invalid option {'.'.join(map(str, err['loc']))}: {err['msg']}",
            file=sys.stderr,
        )
        return 2
    try:
        sock = _bind(args.host, args.port)
    except OSError as exc:
        log.error("llm_server_bind_failed", port=args.port, error=exc.strerror or str(exc))
        return 1
    config = uvicorn.Config(
        create_app(options),
        log_level="warning",
        access_log=False,
        lifespan="off",
        server_header=False,
        date_header=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, _stop_requested)
    with sock, contextlib.suppress(SystemExit):
        asyncio.run(_serve(uvicorn.Server(config), sock, args.port_file, log))
    log.info("llm_server_stopped")
    return 0
