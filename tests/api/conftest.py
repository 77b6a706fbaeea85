"""The service under test: built in-process (runner off) for ASGI tests, or as real processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from planexe.settings import get_settings
from planexe.testing.service import Service, service_env
from planexe_api.app import create_app


@pytest.fixture
def app(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    for name, value in {
        "PLANEXE_DATABASE_URL": db_url,
        "PLANEXE_RUNS_DIR": str(tmp_path / "runs"),
        "PLANEXE_DATA_DIR": str(tmp_path / "data"),
        "PLANEXE_RUNNER": "false",
        "PLANEXE_LOG_LEVEL": "warning",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    return create_app(get_settings())


@pytest.fixture
def make_service(db_url: str, tmp_path: Path) -> Iterator[Callable[..., Service]]:
    """Start ``planexe serve`` processes on the test database (all stopped at the end)."""
    started: list[Service] = []

    def factory(name: str = "svc", **extra: str) -> Service:
        service = Service(service_env(db_url, tmp_path, extra), tmp_path, name=name).start()
        started.append(service)
        return service

    yield factory
    for service in started:
        service.close()
