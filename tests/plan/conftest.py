"""A full offline plan, run once per session with the prompts every step sent (planhelpers.py)."""

from __future__ import annotations

import pytest
from planhelpers import RecordedPlan, record_plan


@pytest.fixture(scope="session")
def recorded_plan(tmp_path_factory: pytest.TempPathFactory) -> RecordedPlan:
    return record_plan(tmp_path_factory.mktemp("recorded"))
