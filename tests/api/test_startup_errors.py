"""A command that cannot start says why in one line a person can act on, exits 3, and claims nothing.

Every case runs the real command as a subprocess, off a terminal (where logs
are JSON lines) and, for some, on one (a pty, where they are console lines):
the error is the same one plain line either way, naming what to change.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from planexe.testing.service import Service, free_port, service_env
from planexe.testing.terminal import run_on_a_terminal, screen_lines
from planexe_api.schemas import PlanCreate

BAD_SETTINGS = [
    (
        "PLANEXE_MAX_CONCURRENT_LLM",
        "0",
        "PLANEXE_MAX_CONCURRENT_LLM=0 is not allowed: give a whole number from 1 to 256 (or leave it unset)",
    ),
    (
        "PLANEXE_HEARTBEAT_S",
        "abc",
        "PLANEXE_HEARTBEAT_S=abc is not allowed: give a number greater than 0 and at most 600",
    ),
]
COMMANDS = {
    "serve": ["serve", "--port", "0"],
    "worker": ["worker"],
    "run": ["run", "Open a bakery", "--detail", "fast"],
    "demo": ["demo", "--port", "0", "--exit"],
    "db": ["db", "check"],
}
PASSWORD = "hunter2-not-shown"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A service's environment (JSON logs: off a terminal) on a SQLite file of its own."""
    return service_env(f"sqlite:///{tmp_path / 'planexe.db'}", tmp_path, extra)


def planexe(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "planexe.cli", *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,  # only the give-up point
    )


def assert_one_line(done: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert done.returncode == 3, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr[-3000:]
    assert "Traceback" not in done.stdout + done.stderr and "{" not in lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(("name", "value", "expected"), BAD_SETTINGS)
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_bad_setting_is_one_line_naming_the_variable(
    tmp_path: Path, command: str, name: str, value: str, expected: str
) -> None:
    done = planexe(COMMANDS[command], _env(tmp_path, **{name: value}), tmp_path)
    assert assert_one_line(done) == f"error: {expected}"
    assert done.stdout == ""


@pytest.mark.parametrize("command", ["serve", "run"])
def test_on_a_terminal_too(tmp_path: Path, command: str) -> None:
    name, value, expected = BAD_SETTINGS[1]
    env = {**_env(tmp_path, **{name: value}), "PLANEXE_LOG_FORMAT": "auto", "TERM": "xterm-256color"}
    code, shown = run_on_a_terminal(COMMANDS[command], env, cwd=str(tmp_path))
    assert code == 3
    assert screen_lines(shown) == [f"error: {expected}"]


def _file(tmp_path: Path) -> Path:
    path = tmp_path / "not-a-directory"
    path.write_text("a file\n")
    return path


DATABASES = {
    "refused": (
        lambda tmp: f"postgresql://planexe:{PASSWORD}@127.0.0.1:{free_port()}/planexe",
        ("the database is unavailable", "Connection refused", "check PLANEXE_DATABASE_URL"),
    ),
    "unknown host": (
        lambda tmp: f"postgresql://planexe:{PASSWORD}@db.nonexistent.invalid/planexe",
        ("the database is unavailable", "db.nonexistent.invalid", "check PLANEXE_DATABASE_URL"),
    ),
    "sqlite through a file": (
        lambda tmp: f"sqlite:///{_file(tmp)}/planexe.db",
        ("part of that path is a file, not a directory", "check PLANEXE_DATABASE_URL"),
    ),
    "misspelt scheme": (
        lambda tmp: f"postgresq://planexe:{PASSWORD}@127.0.0.1/planexe",
        ("PLANEXE_DATABASE_URL: the scheme 'postgresq' is not one PlanExe can use", "postgresql://"),
    ),
}


@pytest.mark.parametrize("case", sorted(DATABASES))
@pytest.mark.parametrize("command", ["serve", "worker", "demo", "db"])
def test_a_database_that_cannot_be_used_is_one_line(tmp_path: Path, command: str, case: str) -> None:
    url, fragments = DATABASES[case]
    env = _env(tmp_path, PLANEXE_DATABASE_URL=url(tmp_path))
    line = assert_one_line(planexe(COMMANDS[command], env, tmp_path), *fragments)
    assert PASSWORD not in line


def test_railway_s_database_url_is_named_when_it_is_the_one_used(tmp_path: Path) -> None:
    env = _env(tmp_path)
    del env["PLANEXE_DATABASE_URL"]
    env["DATABASE_URL"] = f"postgres://planexe:{PASSWORD}@127.0.0.1:{free_port()}/planexe"
    line = assert_one_line(planexe(COMMANDS["serve"], env, tmp_path), "check DATABASE_URL")
    assert PASSWORD not in line


def test_a_busy_port_claims_nothing(make_service, db_url: str, tmp_path: Path) -> None:
    """The port is taken (by a service with no runner, on the same database, holding a queued
    plan): serve and demo stop before their runner starts, so the plan stays queued."""
    idle: Service = make_service("idle", PLANEXE_RUNNER="false")
    plan = idle.submit()
    workdir = tmp_path / "second"
    workdir.mkdir()
    env = service_env(db_url, workdir, {"PLANEXE_POLL_S": "0.05"})
    expected = f"port {idle.port} on 127.0.0.1 is in use; choose another with --port or make run PORT=..."
    for command in (["serve"], ["demo", "--exit"]):
        done = planexe([*command, "--port", str(idle.port)], env, workdir)
        assert assert_one_line(done) == f"error: {expected}"
    after = idle.plan(plan["id"])
    assert (after["status"], after["attempt"], after["last_event_id"]) == (
        "queued",
        plan["attempt"],
        plan["last_event_id"],
    )


def test_an_address_that_is_not_here(tmp_path: Path) -> None:
    done = planexe(["serve", "--host", "192.0.2.1", "--port", "0"], _env(tmp_path), tmp_path)
    assert_one_line(done, "cannot listen on 192.0.2.1: no such address on this machine", "--host")


@pytest.mark.parametrize("prompt", ["", "   \n "])
def test_an_empty_prompt_is_refused_in_the_api_s_words(tmp_path: Path, prompt: str) -> None:
    with pytest.raises(ValidationError) as caught:
        PlanCreate(prompt=prompt)
    reason = caught.value.errors()[0]["msg"].removeprefix("Value error, ")
    done = planexe(["run", prompt, "--run-dir", str(tmp_path / "run")], _env(tmp_path), tmp_path)
    assert assert_one_line(done) == f"error: prompt {reason}"
    assert not (tmp_path / "run").exists()
