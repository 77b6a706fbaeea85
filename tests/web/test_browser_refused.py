"""A refused plan in Chromium: its badge, why it was declined, no resume, its report, the status filter."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from planexe.llm.stand_in import REFUSE_MARKER

from .webhelpers import expect_status


def test_a_refused_plan_says_why_offers_no_resume_and_is_filtered(make_service, new_page, shoot) -> None:
    svc = make_service()  # offline: the marker makes the stand-in refuse
    ordinary = svc.submit(prompt="Open a small bakery in Copenhagen")["id"]
    refused = svc.submit(prompt=f"Forge banknotes in a garage {REFUSE_MARKER}")["id"]
    page = new_page()
    page.goto(f"{svc.base_url}/plans/{refused}/view")
    expect_status(page, "refused")
    region = page.get_by_role("region", name="Request declined")
    expect(region).to_contain_text("will not plan")
    expect(region).to_contain_text("cannot be resumed")
    expect(page.get_by_role("button", name="Resume plan")).to_be_hidden()
    expect(page.get_by_role("link", name="Download the report")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile(r": skipped"))).not_to_have_count(0)
    shoot(page, "plan-refused")

    assert svc.wait_status(ordinary)["status"] == "completed"
    page.goto(f"{svc.base_url}/")
    page.get_by_role("link", name="Refused 1").click()
    expect(page).to_have_url(re.compile(r"\?status=refused$"))
    table = page.get_by_role("table", name="Plans, newest first")
    expect(table.get_by_role("row")).to_have_count(2)  # a header and the refused plan
    expect(table.get_by_text("refused", exact=True)).to_be_visible()
