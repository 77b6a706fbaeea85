"""The dashboard's pages in-process: what they render, their policy headers, and the token login.

The browser tests (tests/web) drive the same pages in Chromium; these check
what a browser cannot see quickly: headers, cookies, redirects, refusals.
"""

from __future__ import annotations

import re

import anyio
import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from planexe.plan.dag import ALL_TASKS
from planexe.settings import get_settings
from planexe_api.app import create_app
from planexe_api.auth import SESSION_COOKIE

TOKEN = "s3cret-token-for-tests"
HTML = {"Accept": "text/html"}


@pytest.fixture
def token_app(app: FastAPI) -> FastAPI:
    """The same service (database, directories) with PLANEXE_API_TOKEN set."""
    return create_app(get_settings().model_copy(update={"api_token": SecretStr(TOKEN)}))


def _run(app: FastAPI, body) -> None:  # type: ignore[no-untyped-def]
    async def main() -> None:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
                await body(client)

    anyio.run(main)


def test_pages_render_under_a_strict_policy(app: FastAPI) -> None:
    async def body(client: httpx.AsyncClient) -> None:
        home = await client.get("/", headers=HTML)
        assert home.status_code == 200
        assert "script-src 'self'" in home.headers["content-security-policy"]
        assert '<label for="prompt">' in home.text and 'maxlength="8000"' in home.text
        # Nothing inline for a strict policy to block: no script bodies, handlers or style attributes.
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", home.text)
        assert not re.search(r"\son[a-z]+=|\sstyle=", home.text)
        plan = (await client.post("/plans", json={"prompt": "Open a small bakery"})).json()
        page = await client.get(f"/plans/{plan['id']}/view", headers=HTML)
        assert page.status_code == 200 and page.text.count('class="node ') == len(ALL_TASKS)
        assert f'data-last-event-id="{plan["last_event_id"] or 1}"' in page.text
        assert not re.search(r"\son[a-z]+=|\sstyle=", page.text)
        listed = await client.get("/", params={"fragment": "list", "q": "bakery"})
        assert plan["id"] in listed.text and 'Queued <span class="count">1</span>' in listed.text
        none = await client.get("/", params={"fragment": "list", "q": "forest"})
        assert "No plans match “forest”" in none.text
        panel = await client.get(f"/plans/{plan['id']}/view/tasks/identify_purpose")
        assert panel.status_code == 200 and "Needed by" in panel.text
        for part in ("facts", "usage", "files", "failure"):
            assert (await client.get(f"/plans/{plan['id']}/view/{part}")).status_code == 200
        # Errors are the API's message, as a page.
        missing = await client.get("/plans/nope/view", headers=HTML)
        assert missing.status_code == 404 and "no plan with id &#39;nope&#39;" in missing.text
        bad = await client.get("/", params={"status": "lost"}, headers=HTML)
        assert bad.status_code == 400 and "status must be one of" in bad.text
        static = await client.get("/static/js/plan-page.js")
        assert static.status_code == 200 and "javascript" in static.headers["content-type"]

    _run(app, body)


def test_the_token_is_asked_once_then_a_cookie_works_for_pages_streams_and_actions(
    token_app: FastAPI,
) -> None:
    async def body(client: httpx.AsyncClient) -> None:
        # A browser is sent to the login form and back; an API client still gets 401.
        page = await client.get("/plans?status=queued", headers=HTML)
        assert (
            page.status_code == 303 and page.headers["location"] == "/login?next=%2Fplans%3Fstatus%3Dqueued"
        )
        assert (await client.get("/plans")).status_code == 401
        assert (await client.get("/login")).status_code == 200
        assert (await client.get("/static/app.css")).status_code == 200
        wrong = await client.post(
            "/login",
            content="token=nope&next=/",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert wrong.status_code == 401 and "not this service&#39;s token" in wrong.text
        assert SESSION_COOKIE not in wrong.cookies
        # An address elsewhere is not followed after login (no open redirect).
        login = await client.post(
            "/login",
            content=f"token={TOKEN}&next=//evil.example/x",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert login.status_code == 303 and login.headers["location"] == "/"
        cookie = login.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        assert TOKEN not in cookie
        value = login.cookies[SESSION_COOKIE]
        jar = {"Cookie": f"{SESSION_COOKIE}={value}"}
        assert (await client.get("/", headers={**HTML, **jar})).status_code == 200
        created = await client.post("/plans", json={"prompt": "Open a bakery"}, headers=jar)
        assert created.status_code == 202
        plan_id = created.json()["id"]
        # The event stream, which EventSource cannot give a header, works with the cookie.
        await client.post(f"/plans/{plan_id}/cancel", headers={**jar, "Sec-Fetch-Site": "same-origin"})
        stream = await client.get(f"/plans/{plan_id}/events", headers=jar)
        assert stream.status_code == 200 and "event: end" in stream.text
        # A state change another site's page tries to make is refused, cookie or not.
        forged = await client.post(
            f"/plans/{plan_id}/resume", headers={**jar, "Sec-Fetch-Site": "cross-site"}
        )
        assert forged.status_code == 403 and forged.json()["code"] == "cross_site_request"
        # The bearer header still works alone, and a tampered cookie does not.
        bearer = await client.get(f"/plans/{plan_id}", headers={"Authorization": f"Bearer {TOKEN}"})
        assert bearer.status_code == 200
        tampered = value[:-1] + ("0" if value[-1] != "0" else "1")
        assert (
            await client.get("/plans", headers={"Cookie": f"{SESSION_COOKIE}={tampered}"})
        ).status_code == 401
        logout = await client.post("/logout", headers=jar)
        assert logout.status_code == 303 and f'{SESSION_COOKIE}=""' in logout.headers["set-cookie"]

    _run(token_app, body)
