"""The plan list in Chromium: filter by status, search, older plans, live rows, the API's errors."""

from __future__ import annotations

import re

from playwright.sync_api import expect


def test_the_list_filters_searches_pages_and_updates_itself(make_service, new_page, shoot) -> None:
    # No runner: plans stay queued, so their statuses are the test's to set.
    svc = make_service(PLANEXE_RUNNER="false")
    for i in range(21):
        svc.submit(prompt=f"Plant {i + 1} trees in the park", detail="fast")
    bakery = svc.submit(prompt="Open a small bakery in Copenhagen", detail="fast")["id"]
    svc.http.post(f"/plans/{bakery}/cancel")
    page = new_page()
    page.goto(f"{svc.base_url}/")
    table = page.get_by_role("table", name="Plans, newest first")
    expect(table.get_by_role("row")).to_have_count(21)  # a header and 20 plans
    expect(page.get_by_role("link", name="Queued 21")).to_be_visible()

    page.get_by_role("link", name="Show older plans").click()
    expect(table.get_by_role("row")).to_have_count(23)
    expect(page.get_by_role("link", name="Show older plans")).to_have_count(0)
    expect(table.get_by_role("link", name="Plant 2 trees in the park")).to_be_focused()  # the first older one

    page.get_by_role("link", name="Cancelled 1").click()
    expect(page).to_have_url(re.compile(r"\?status=cancelled$"))
    expect(table.get_by_role("row")).to_have_count(2)
    expect(table.get_by_role("link", name="Open a small bakery in Copenhagen")).to_be_visible()

    page.get_by_role("link", name="All 22").click()
    page.get_by_role("searchbox", name="Search the prompts").fill("TREES in the park")
    expect(page.get_by_role("link", name="All 21")).to_be_visible()  # the counts follow the search
    expect(page.get_by_role("link", name="Cancelled 0")).to_be_visible()
    page.get_by_role("searchbox", name="Search the prompts").fill("no such plan")
    expect(page.get_by_text("No plans match “no such plan”.")).to_be_visible()
    page.get_by_role("searchbox", name="Search the prompts").fill("")

    # A plan made elsewhere shows up without a reload.
    svc.submit(prompt="Repair the village bridge", detail="fast")
    expect(table.get_by_role("link", name="Repair the village bridge")).to_be_visible()
    shoot(page, "home")

    # The API's own message, not a silent nothing.
    page.get_by_role("button", name="Make the plan").click()
    expect(page.get_by_role("alert")).to_contain_text("must not be empty")

    phone = new_page(width=390, height=844)
    phone.goto(f"{svc.base_url}/")
    expect(phone.get_by_role("button", name="Make the plan")).to_be_visible()
    shoot(phone, "home-phone")
