"""Regenerate a task from the plan page, against `planexe llm-server`, in a real browser."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from planexe.testing.llm_server import LLMServer, llm_server
from planexe.testing.service import Service, service_env

from .webhelpers import expect_all_done, expect_every_event_once, expect_status

FEEDBACK = "Aim the pitch at the cafés of Nørrebro."


@pytest.fixture(scope="module")
def llm() -> Iterator[LLMServer]:
    with llm_server(seed=5, record_requests=100) as server:
        yield server


@pytest.fixture(scope="module")
def svc(llm: LLMServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    workdir = tmp_path_factory.mktemp("rerun")
    env = {
        "PLANEXE_LLM_BASE_URL": llm.base_url,
        "PLANEXE_LLM_MODEL": "test-model",
        "PLANEXE_LLM_TIMEOUT_S": "5",
    }
    service = Service(service_env(f"sqlite:///{workdir / 'svc.db'}", workdir, env), workdir).start()
    yield service
    service.close()


def test_regenerate_a_task_with_feedback_from_its_panel(svc, new_page, shoot, llm: LLMServer) -> None:
    plan_id = svc.submit(detail="fast")["id"]
    assert svc.wait_status(plan_id)["status"] == "completed"
    before = svc.http.get(f"/plans/{plan_id}/files/pitch.json").json()
    llm.reset_stats()
    page = new_page()
    page.goto(f"{svc.base_url}/plans/{plan_id}/view?task=pitch")
    expect_status(page, "completed")
    form = page.get_by_role("form", name="Regenerate")
    expect(form).to_contain_text("and the 1 task after it again (1 LLM call): pitch, report")
    form.get_by_role("textbox", name="What should change? (optional)").fill(FEEDBACK)
    form.scroll_into_view_if_needed()
    shoot(page, "plan-regenerate", full_page=False)
    form.get_by_role("button", name="Regenerate pitch").click()
    expect(
        page.get_by_role("alert").filter(has_text="Regenerating 2 tasks (1 LLM calls): pitch, report")
    ).to_be_visible()
    plan = svc.wait_status(plan_id)
    assert plan["status"] == "completed", plan
    # The page followed the new run to its end: every event once, every task done again.
    expect_every_event_once(page, svc.plan(plan_id)["last_event_id"])
    expect_all_done(page)
    expect(
        page.get_by_role("log")
        .get_by_role("listitem")
        .filter(has_text=re.compile("regenerate pitch, report"))
    ).to_have_count(1)
    # The files list the replaced outputs as earlier versions, downloadable.
    earlier = page.get_by_role("link", name="pitch.json, version 1")
    expect(earlier).to_be_visible()
    assert svc.http.get(earlier.get_attribute("href")).json() == before
    # The one call made carried the feedback; the new output records it, the old one is kept.
    [request] = llm.requests()
    assert FEEDBACK in request["messages"][-1]["content"]
    after = svc.http.get(f"/plans/{plan_id}/files/pitch.json").json()
    assert after["rerun"] == {"generation": 1, "feedback": FEEDBACK}
    assert json.loads(svc.http.get(f"/plans/{plan_id}/files/pitch.json?version=1").content) == before
