"""What stops ``planexe serve``, ``worker`` and ``db`` before they start, said in one line.

Each check raises ``CannotStart`` (a ConfigError), which ``planexe/cli.py``
prints as one line and exits 3 with. ``planexe serve`` runs them in this
order: settings, the listening socket (``listen``), ``check`` (LLM config,
database, schema), then uvicorn on the socket already bound, and only then the
app's lifespan, which starts the runner. So a port in use or a database that
does not answer stops the command before any plan is claimed: a runner that
claimed one and then failed to serve would hold it until its lease ran out and
cost it an attempt.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError

from planexe.errors import CannotStart
from planexe.llm.config import LLMConfig, load_llm_config
from planexe.plan.prompt_sizes import check_windows
from planexe.settings import Settings
from planexe.settings_errors import env_name
from planexe_api.db.errors import StoreError
from planexe_api.db.migrate import ensure_schema
from planexe_api.services import budgets

LISTEN_BACKLOG = 2048  # uvicorn's default


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound now; uvicorn serves on it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # As uvicorn does: a restart may bind while the old process's connections linger.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(LISTEN_BACKLOG)
    except OSError as exc:
        sock.close()
        raise CannotStart(_listen_problem(host, port, exc)) from exc
    return sock


def inherited(fd: int) -> socket.socket:
    """A listening socket a parent bound and handed down (``planexe demo`` to its server)."""
    return socket.socket(fileno=fd)


def url_host(host: str) -> str:
    """``host`` as it goes in a URL: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _listen_problem(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} on {host} is in use; choose another with --port or make run PORT=..."
    if exc.errno == errno.EACCES:
        return (
            f"port {port} on {host} needs privileges; choose one above 1023 with --port or make run PORT=..."
        )
    if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT) or isinstance(exc, socket.gaierror):
        return f"cannot listen on {host}: no such address on this machine; choose another with --host or make run HOST=..."
    return f"cannot listen on {host}:{port}: {exc.strerror or exc}"


@contextmanager
def database_errors(settings: Settings) -> Iterator[None]:
    """A database that cannot be used at start-up, as one line naming the setting to check."""
    try:
        yield
    except StoreError as exc:
        raise CannotStart(database_problem(exc, settings)) from exc


def database_problem(exc: StoreError, settings: Settings) -> str:
    return f"{exc.message} ({shown_database(settings)}); {_database_setting(settings)}"


def shown_database(settings: Settings) -> str:
    """The database URL without its password."""
    url = settings.effective_database_url()
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "the URL cannot be parsed"


def _database_setting(settings: Settings) -> str:
    if settings.database_url:
        return f"check {env_name('database_url')}"
    return "check PLANEXE_DATA_DIR, or set PLANEXE_DATABASE_URL"


def check(settings: Settings) -> tuple[LLMConfig, str]:
    """Everything that can refuse to start without an event loop: the LLM config, budgets, the
    database and its schema (SQLite is migrated here). Returns the LLM config and the schema head."""
    llm_config = load_llm_config(settings)
    check_windows(llm_config.chain, "full")  # a model too small for the prompts: refused here, not mid-plan
    budgets.check_startup(settings, llm_config.chain)
    with database_errors(settings):
        revision = ensure_schema(settings.effective_database_url())
    return llm_config, revision
