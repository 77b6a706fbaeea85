"""HTML responses of the dashboard, each with the dashboard's Content-Security-Policy.

The pages load only their own scripts and stylesheet (no inline script, style
or event handler, no eval), so the policy (``security.DASHBOARD_CSP``) forbids
everything else. ``security.SecurityHeaders`` adds the headers every answer
gets (nosniff, referrer policy, no framing).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import HTMLResponse

from planexe_api.security import DASHBOARD_CSP
from planexe_api.web.templating import render

HEADERS = {"Content-Security-Policy": DASHBOARD_CSP, "Cache-Control": "no-cache"}


def page(
    template: str, *, status_code: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> HTMLResponse:
    return HTMLResponse(
        render(template, **context), status_code=status_code, headers={**HEADERS, **(headers or {})}
    )
