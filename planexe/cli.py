"""The ``planexe`` command.

Each sub-command lives in the module that owns the feature; this file only
wires them: a module exposes ``add_arguments(parser)`` and ``run(args) -> int``.

A command that cannot start (a setting that cannot be used, a port in use, a
database that does not answer) raises ConfigError; it is printed here, as one
line on stderr whatever the log format, and the exit code is 3.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from planexe.errors import ConfigError

CONFIG_ERROR_EXIT = 3  # as the pipeline's ExitCode.CONFIG_ERROR

# name -> (module, one-line help). Modules are imported lazily so that
# ``planexe --help`` does not pay for FastAPI or Luigi.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("planexe.plan.run_command", "make a plan from a prompt, here, with a progress bar"),
    "graph": ("planexe.plan.graph_command", "show the plan DAG: task count, LLM calls, critical path"),
    "demo": ("planexe_api.demo_command", "start the service and follow a demo plan (what `make run` does)"),
    "serve": ("planexe_api.serve_command", "run the HTTP API (and, unless PLANEXE_RUNNER=false, run plans)"),
    "worker": ("planexe_api.worker_command", "run plans from the shared database, without HTTP"),
    "mcp": (
        "planexe_api.mcp.stdio_command",
        "serve PlanExe's MCP tools over stdio, forwarding to a running service",
    ),
    "db": ("planexe_api.db.cli", "database schema: upgrade, current, check"),
    "llm-server": ("planexe.llm.server.cli", "run an OpenAI-compatible test server with latency and faults"),
    "local-llm": (
        "planexe.llm.local_server",
        "run a small local llama.cpp model (SmolLM2) behind an OpenAI-compatible API",
    ),
}


def build_parser(commands: dict[str, tuple[str, str]] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="planexe", description="Turn a project idea into a project plan.")
    subs = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in (commands or COMMANDS).items():
        sub = subs.add_parser(name, help=help_text, description=help_text)
        module = importlib.import_module(module_name)
        module.add_arguments(sub)
        sub.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = COMMANDS
    # Only import the module of the command asked for.
    if argv and argv[0] in COMMANDS:
        commands = {argv[0]: COMMANDS[argv[0]]}
    elif argv and not argv[0].startswith("-"):
        commands = COMMANDS
    args = build_parser(commands).parse_args(argv)
    try:
        return int(args._module.run(args) or 0)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return CONFIG_ERROR_EXIT


if __name__ == "__main__":
    sys.exit(main())
