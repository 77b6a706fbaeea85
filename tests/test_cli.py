"""``planexe``'s sub-commands come from entry points, each owned by its package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from planexe import cli

EXPECTED = {"run", "graph", "demo", "serve", "worker", "mcp", "plans", "db", "llm-server", "local-llm"}


def test_every_command_is_registered_and_loads() -> None:
    commands = cli.available_commands()
    assert set(commands) >= EXPECTED
    for target in commands.values():
        command = cli._load(target)
        assert command.HELP and callable(command.add_arguments) and callable(command.run)


def test_the_library_names_no_service_module() -> None:
    source = Path(cli.__file__).read_text()
    assert "planexe_api" not in source


def test_help_lists_every_command_with_its_line() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "planexe.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for name in EXPECTED:
        assert name in out
    assert "database schema: upgrade, current, check" in out
