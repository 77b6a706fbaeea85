"""Shared fixtures: a clean PLANEXE_* environment for every test."""

from __future__ import annotations

import os

import pytest

from planexe.settings import get_settings


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("PLANEXE_") or name in ("LUIGI_WORKERS", "DATABASE_URL"):
            monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
