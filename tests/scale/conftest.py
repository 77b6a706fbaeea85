"""Scale-out fixtures: PostgreSQL only (the database the replicas share), real processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from scalehelpers import Cluster

from planexe.testing.llm_server import LLMServer, llm_server


@pytest.fixture
def pg_url(postgres_clones: Any) -> str:
    """A migrated PostgreSQL database with no rows, from the session's clones (tests/conftest.py)."""
    name = postgres_clones.clean_shared()
    url: str = postgres_clones.admin.url.set(database=name).render_as_string(hide_password=False)
    return url


@pytest.fixture(scope="module")
def llm() -> Iterator[LLMServer]:
    with llm_server(seed=11) as server:
        yield server


@pytest.fixture
def make_cluster(pg_url: str, tmp_path: Path) -> Iterator[Callable[..., Cluster]]:
    made: list[Cluster] = []

    def factory(name: str = "cluster", **env: str) -> Cluster:
        cluster = Cluster(pg_url, tmp_path / name, dict(env))
        made.append(cluster)
        return cluster

    yield factory
    for cluster in made:
        cluster.close()
