"""Storage test fixtures; the databases themselves come from tests/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dbhelpers import Store
from sqlalchemy.orm import Session, sessionmaker


@pytest.fixture
def store(session_factory: sessionmaker[Session]) -> Iterator[Store]:
    yield Store(session_factory)
