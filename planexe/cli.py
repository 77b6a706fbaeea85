"""The ``planexe`` command.

Each sub-command lives in the module that owns the feature and is registered as
an entry point; this file only wires them.

A command that cannot start (a setting that cannot be used, a port in use, a
database that does not answer) raises ConfigError; it is printed here, as one
line on stderr whatever the log format, and the exit code is 3.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points
from typing import Any

from planexe.errors import ConfigError

CONFIG_ERROR_EXIT = 3  # as the pipeline's ExitCode.CONFIG_ERROR

ENTRY_POINT_GROUP = "planexe.commands"


def available_commands() -> dict[str, str]:
    """Command name -> the module that implements it, from the installed entry points.

    Each package registers its own commands in pyproject.toml (``[project.entry-points.
    "planexe.commands"]``), so this file names none of them and the library never refers
    to the service. A command exposes ``HELP``, ``add_arguments(parser)`` and ``run(args)``.
    """
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def _load(target: str) -> Any:
    """``module`` or ``module:attribute``, as an entry point's value names it."""
    module_name, _, attribute = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attribute) if attribute else module


def build_parser(commands: dict[str, str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="planexe", description="Turn a project idea into a project plan.")
    subs = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in (available_commands() if commands is None else commands).items():
        module = _load(module_name)  # lazily: only the command asked for, when one is
        sub = subs.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = available_commands()
    # Only import the module of the command asked for (``planexe --help`` pays for FastAPI).
    if argv and argv[0] in commands:
        commands = {argv[0]: commands[argv[0]]}
    args = build_parser(commands).parse_args(argv)
    try:
        return int(args._module.run(args) or 0)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return CONFIG_ERROR_EXIT


if __name__ == "__main__":
    sys.exit(main())
