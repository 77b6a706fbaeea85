"""HTML responses of the dashboard, each with a strict Content-Security-Policy.

The pages load only their own scripts and stylesheet (no inline script,
style or event handler, no eval), so the policy forbids everything else; a
hardening layer that sets its own policy on every response finds nothing
here to break. The report is framed from the same origin, hence frame-src.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import HTMLResponse

from planexe_api.web.templating import render

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-src 'self'; font-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'self'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def page(
    template: str, *, status_code: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> HTMLResponse:
    return HTMLResponse(
        render(template, **context), status_code=status_code, headers={**HEADERS, **(headers or {})}
    )
