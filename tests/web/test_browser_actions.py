"""Cancel and resume from the page, and a failed plan that says where and why, against `planexe llm-server`."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from planexe.testing.llm_server import LLMServer, llm_server
from planexe.testing.service import Service, service_env

from .webhelpers import expect_all_done, expect_every_event_once, expect_status


@pytest.fixture(scope="module")
def llm() -> Iterator[LLMServer]:
    with llm_server(seed=3) as server:
        yield server


@pytest.fixture(scope="module")
def svc(llm: LLMServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One service for both tests (each has its own plan): a start costs seconds."""
    workdir = tmp_path_factory.mktemp("actions")
    env = {
        "PLANEXE_LLM_BASE_URL": llm.base_url,
        "PLANEXE_LLM_MODEL": "test-model",
        "PLANEXE_LLM_TIMEOUT_S": "5",
        "PLANEXE_LLM_MAX_ATTEMPTS": "1",
        "PLANEXE_LLM_RETRY_BASE_DELAY_S": "0",
    }
    service = Service(service_env(f"sqlite:///{workdir / 'svc.db'}", workdir, env), workdir).start()
    yield service
    service.close()


def test_cancel_a_running_plan_then_resume_it(svc, new_page, shoot, llm: LLMServer) -> None:
    llm.configure(latency="fixed:0.3", rate_500=0.0)
    plan_id = svc.submit(detail="fast")["id"]
    page = new_page()
    page.goto(f"{svc.base_url}/plans/{plan_id}/view")
    expect(page.get_by_role("link", name=re.compile(r": done")).nth(4)).to_be_attached()
    shoot(page, "plan-running")
    page.get_by_role("button", name="Cancel plan").click()
    expect_status(page, "cancelled")
    expect(page.get_by_role("link", name=re.compile(r": skipped"))).not_to_have_count(0)
    expect(page.get_by_role("region", name="Cancelled")).to_contain_text("Resume continues")
    expect(page.get_by_role("button", name="Cancel plan")).to_be_hidden()
    llm.configure(latency="fixed:0")
    page.get_by_role("button", name="Resume plan").click()
    expect(page.get_by_role("alert").filter(has_text="Resumed")).to_be_visible()
    expect_status(page, "completed")
    expect_all_done(page)
    expect_every_event_once(page, svc.plan(plan_id)["last_event_id"])
    expect(page.get_by_role("button", name="Resume plan")).to_be_hidden()


def test_a_failed_plan_shows_the_failing_task_and_why(svc, new_page, shoot, llm: LLMServer) -> None:
    llm.configure(latency="fixed:0", rate_500=1.0)
    plan_id = svc.submit(detail="fast")["id"]
    page = new_page()
    page.goto(f"{svc.base_url}/plans/{plan_id}/view")
    expect_status(page, "failed")
    plan = svc.plan(plan_id)
    failed_task = plan["error"]["failed_task"]
    assert failed_task
    failure = page.get_by_role("region", name=f"Failed at task {failed_task}")
    expect(failure).to_contain_text("Why:")
    expect(failure).to_contain_text("500")
    expect(failure).to_contain_text("Will resume fix it? Probably.")
    tasks = svc.http.get(f"/plans/{plan_id}/dag").json()["tasks"]
    title = next(t["title"] for t in tasks if t["name"] == failed_task)
    expect(page.get_by_role("link", name=re.compile(f"^{re.escape(title)}: failed"))).to_be_visible()
    expect(page.get_by_role("link", name=re.compile(r": skipped"))).not_to_have_count(0)
    expect(page.get_by_role("button", name="Resume plan")).to_be_visible()
    shoot(page, "plan-failed")
    failure.get_by_role("link", name=f"Show task {failed_task}").click()
    panel = page.get_by_role("region", name=title, exact=True)
    expect(panel.get_by_role("cell", name=re.compile("500")).first).to_be_visible()
