"""An app built in-process (runner off) on the test database, for tests that drive it through ASGI."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI

from planexe.settings import get_settings
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
