"""A real browser for the dashboard tests: Debian's Chromium driven by Playwright.

One browser for all of tests/web (a fresh profile of its own, which Playwright
creates), a new context (cookies, storage) per test. Chromium on these
machines needs the flags below, or its connections to the closed network are
refused. Without /usr/bin/chromium the tests skip, except under CI, where
they fail (like the PostgreSQL tests). Every test fails on a script error or
a Content-Security-Policy violation on the page. Screenshots go to
build/screenshots/ (docs/images/ holds the committed copies).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from planexe.testing.service import Service, service_env

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
TIMEOUT_MS = 60_000  # for a plan to move on; tests wait for the event, this is only the give-up point


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    # Package, not session: Playwright's sync API keeps an asyncio loop running in this
    # thread while it lives, and tests elsewhere that start their own loop (anyio.run)
    # must not run under it, whatever order they are run in.
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI is set, so the browser tests must run", pytrace=False)
        pytest.skip(f"{reason}; set CI=1 to make this a failure")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """A page in a context of its own; fails the test on a script error or CSP violation."""
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    contexts: list[Any] = []
    problems: list[str] = []

    def factory(width: int = 1280, height: int = 900) -> Any:
        context = browser.new_context(viewport={"width": width, "height": height})
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: problems.append(f"script error: {exc}"))

        def console(message: Any) -> None:
            if "Content Security Policy" in message.text or (
                message.type == "error" and "Refused" in message.text
            ):
                problems.append(f"policy violation: {message.text}")

        page.on("console", console)
        return page

    yield factory
    for context in contexts:
        context.close()
    assert problems == []


@pytest.fixture
def shoot() -> Callable[[Any, str], None]:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def save(page: Any, name: str, full_page: bool = True) -> None:
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)

    return save


@pytest.fixture
def make_service(tmp_path: Path) -> Iterator[Callable[..., Service]]:
    """Real ``planexe serve`` processes on SQLite; the page sees only their HTTP."""
    started: list[Service] = []

    def factory(name: str = "svc", **extra: str) -> Service:
        url = f"sqlite:///{tmp_path / f'{name}.db'}"
        service = Service(service_env(url, tmp_path, extra), tmp_path, name=name).start()
        started.append(service)
        return service

    yield factory
    for service in started:
        service.close()
