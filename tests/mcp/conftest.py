"""MCP tests drive a real ``planexe serve`` on loopback with the SDK's own client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from planexe.testing.service import Service, service_env


@pytest.fixture(scope="module")
def start_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Service]]:
    """Start services on a SQLite file of their own (the service migrates it); all stopped at the end."""
    started: list[Service] = []

    def start(name: str = "svc", **extra: str) -> Service:
        workdir = tmp_path_factory.mktemp(name)
        env = service_env(f"sqlite:///{workdir / 'planexe.db'}", workdir, extra)
        service = Service(env, Path(workdir), name=name).start()
        started.append(service)
        return service

    yield start
    for service in started:
        service.close()
