"""/docs in a real browser with no internet: Swagger UI comes from the package, not a CDN."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

from playwright.sync_api import expect

from planexe.testing.service import Service


def test_docs_render_offline_from_the_package(
    new_page: Callable[..., Any], make_service: Callable[..., Service]
) -> None:
    svc = make_service(PLANEXE_RUNNER="false")
    page = new_page()
    elsewhere: list[str] = []

    def offline(route: Any) -> None:
        # Any request that leaves this machine fails, as it would without internet.
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", offline)
    page.goto(f"{svc.base_url}/docs")
    expect(page.get_by_role("heading", name=re.compile("^PlanExe"))).to_be_visible()
    events = page.locator(".opblock").filter(has_text="/plans/{plan_id}/events")
    expect(events).to_be_visible()
    events.locator(".opblock-summary").click()
    # The operation's declared answers, error statuses and their body included.
    responses = events.locator(".responses-table").first
    for status in ("200", "204", "400", "404", "503"):
        expect(responses.locator(f"tr[data-code='{status}']")).to_be_visible()
    expect(responses).to_contain_text("text/event-stream")
    assert elsewhere == []
