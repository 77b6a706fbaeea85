"""A page on another origin, in a real Chromium, cannot change a plan; an origin that is allowed can.

The attacker's page is served from another loopback origin (``localhost:<port>``
against the service's ``127.0.0.1:<port>``: another site to the browser), so
the browser sends what it sends for real: its own Origin and Sec-Fetch-Site.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from planexe.testing.service import Service

PAGE = b"<!doctype html><title>Another site</title><p>Nothing to see here.</p>"
# What a hostile page does: a no-cors POST, whose answer it cannot read but whose effect counts.
NO_CORS_POST = """async (url) => {
  await fetch(url, { method: "POST", mode: "no-cors" });
  return "sent";
}"""


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def other_site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _cancel_from(new_page: Callable[..., object], origin_url: str, svc: Service) -> str:
    plan_id = svc.submit()["id"]
    page = new_page()
    page.goto(f"{origin_url}/")  # type: ignore[attr-defined]
    assert page.evaluate(NO_CORS_POST, f"{svc.base_url}/plans/{plan_id}/cancel") == "sent"  # type: ignore[attr-defined]
    return plan_id


def test_a_page_on_another_origin_cannot_cancel_a_plan(make_service, new_page, other_site: str) -> None:
    svc = make_service("victim", PLANEXE_RUNNER="false")
    plan_id = _cancel_from(new_page, other_site, svc)
    # A form posted from that page (the classic forgery, a top-level navigation) fares no better.
    page = new_page()
    page.goto(f"{other_site}/")
    page.evaluate(
        """(url) => {
          const form = document.createElement("form");
          form.method = "post";
          form.action = url;
          document.body.append(form);
          form.submit();
        }""",
        f"{svc.base_url}/plans/{plan_id}/cancel",
    )
    page.wait_for_url(f"{svc.base_url}/plans/{plan_id}/cancel")
    assert "cross_site_request" in page.content()
    assert svc.plan(plan_id)["status"] == "queued"


def test_an_allowed_origin_can(make_service, new_page, other_site: str) -> None:
    """The same request from an origin in PLANEXE_CORS_ORIGINS goes through: the refusal above is
    the rule at work, not a request that never left the browser."""
    svc = make_service("allowing", PLANEXE_RUNNER="false", PLANEXE_CORS_ORIGINS=other_site)
    plan_id = _cancel_from(new_page, other_site, svc)
    assert svc.wait_status(plan_id, ("cancelled",), timeout=30)["status"] == "cancelled"
