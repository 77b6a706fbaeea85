"""A person writes an idea and watches the plan being built, in Chromium, against real services.

Behind a token: the page asks for it once, then the form, the page and its
event stream work with the session cookie alone. Then the service is killed
with SIGKILL and restarted under an open page, which must notice, reconnect
by itself and end with every task done and every event shown once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from planexe.testing.llm_server import LLMServer, llm_server

from .webhelpers import expect_all_done, expect_every_event_once, expect_status

TOKEN = "browser-test-token-7f3a"


@pytest.fixture(scope="module")
def llm() -> Iterator[LLMServer]:
    with llm_server(seed=11) as server:
        yield server


def test_log_in_submit_from_the_form_and_watch_it_complete(make_service, new_page, shoot) -> None:
    svc = make_service(PLANEXE_API_TOKEN=TOKEN)
    svc.http.headers["Authorization"] = f"Bearer {TOKEN}"  # the test's own API client
    page = new_page()
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    page.goto(f"{svc.base_url}/")
    expect(page).to_have_url(re.compile(r"/login\?next=%2F$"))
    shoot(page, "login")
    page.get_by_label("API token").fill("not-the-token")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("not this service's token")
    page.get_by_label("API token").fill(TOKEN)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{svc.base_url}/")

    prompt = page.get_by_label("Describe the project")
    prompt.fill("Open a bakery")
    expect(page.get_by_text("13 of 8,000 characters")).to_be_visible()
    page.get_by_role("button", name=re.compile("^Open a small bakery")).click()
    expect(prompt).to_have_value(re.compile("^Open a small bakery in Copenhagen"))
    page.get_by_role("radio", name=re.compile("^Fast")).check()
    shoot(page, "home-new-plan", full_page=False)
    page.get_by_role("button", name="Make the plan").click()

    expect(page).to_have_url(re.compile(r"/plans/[0-9a-f]{32}/view$"))
    plan_id = page.url.rsplit("/", 2)[-2]
    expect_status(page, "completed")
    expect_all_done(page)
    expect_every_event_once(page, svc.plan(plan_id)["last_event_id"])
    expect(page.get_by_role("link", name="Download the report")).to_be_visible()
    shoot(page, "plan-completed")

    page.get_by_role("link", name=re.compile("^Purpose: done")).click()
    panel = page.get_by_role("region", name="Purpose")
    expect(panel.get_by_role("heading", name="LLM calls")).to_be_visible()
    expect(panel.get_by_role("cell", name="offline").first).to_be_visible()
    expect(panel.get_by_role("link", name="safety_gate")).to_be_visible()  # its place in the DAG
    shoot(page, "plan-task", full_page=False)
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()

    page.get_by_role("button", name="Show the report here").click()
    report = page.get_by_title("The plan's report").content_frame
    expect(report.get_by_role("heading", level=1)).to_be_visible()
    assert not [u for u in urls if TOKEN in u], "the token must never be in a URL"
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("link", name="Plans", exact=True).first.scroll_into_view_if_needed()
    expect(page.get_by_role("link", name="Download the report")).to_be_in_viewport()
    shoot(page, "plan-phone", full_page=False)


def test_kill_9_and_restart_under_an_open_page(make_service, new_page, shoot, llm: LLMServer) -> None:
    llm.configure(latency="fixed:0.25")
    svc = make_service(
        PLANEXE_LLM_BASE_URL=llm.base_url, PLANEXE_LLM_MODEL="test-model", PLANEXE_LLM_TIMEOUT_S="5"
    )
    plan_id = svc.submit(detail="fast")["id"]
    page = new_page()
    page.goto(f"{svc.base_url}/plans/{plan_id}/view")
    expect(page.get_by_role("link", name=re.compile(r": done")).nth(9)).to_be_attached()
    svc.kill9()
    expect(page.get_by_role("status").filter(has_text="Lost the connection")).to_be_visible()
    svc.start()
    expect(page.get_by_role("status").filter(has_text="Reconnected")).to_be_visible()
    expect_status(page, "completed")
    expect_all_done(page)
    plan = svc.plan(plan_id)
    assert plan["status"] == "completed"
    expect_every_event_once(page, plan["last_event_id"])
    # The gap is in the log, between the events before the kill and those replayed after it.
    expect(
        page.get_by_role("log").get_by_role("listitem").filter(has_text="No connection from")
    ).to_have_count(1)
    shoot(page, "plan-after-restart")
