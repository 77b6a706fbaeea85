"""What the browser tests read off a plan page, the way a person would find it."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from planexe.plan.dag import ALL_TASKS

TASKS = len(ALL_TASKS)
DONE = re.compile(r": done(, critical path)?$")


def event_ids(page: Any) -> list[int]:
    """The ids of the event log's lines, in the order shown (gap notes left out)."""
    texts = page.get_by_role("log").get_by_role("listitem").all_inner_texts()
    return [int(t.split()[0][1:]) for t in texts if t.startswith("#")]


def expect_status(page: Any, status: str) -> None:
    """The page announced the status and shows it in its facts."""
    expect(page.get_by_role("status").filter(has_text=f"The plan is {status}.")).to_have_count(1)
    expect(page.get_by_role("definition").filter(has_text=re.compile(f"^{status}$"))).to_be_visible()


def expect_all_done(page: Any) -> None:
    expect(page.get_by_role("link", name=DONE)).to_have_count(TASKS)
    expect(page.get_by_text(f"{TASKS} of {TASKS} tasks done")).to_be_visible()


def expect_every_event_once(page: Any, last_event_id: int) -> None:
    expect(page.get_by_text(f"{last_event_id} events", exact=True)).to_be_visible()
    assert event_ids(page) == list(range(1, last_event_id + 1))
