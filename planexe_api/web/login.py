"""``/login`` and ``/logout``: trade the API token for the dashboard's session cookie (see auth.py).

The form posts the token in the request body (never in a URL, so it stays out
of history, logs and Referer headers). The body is parsed here rather than
with FastAPI's ``Form``, which would need python-multipart for two fields.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from planexe_api.auth import SESSION_COOKIE, SESSION_MAX_AGE_S, session_cookie_value, token_matches
from planexe_api.state import AppState, get_state
from planexe_api.web.responses import page

router = APIRouter(include_in_schema=False)
State = Annotated[AppState, Depends(get_state)]
MAX_FORM_BYTES = 16 * 1024  # the form has a token and a path


def safe_next(target: str | None) -> str:
    """Only a path on this site: an open redirect would let a link send people elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/login")
async def login_form(state: State, next: str = "/") -> Response:
    if state.settings.api_token is None:
        return RedirectResponse(safe_next(next), status_code=303)
    return page("login.html", next=safe_next(next), error=None, auth_enabled=False)


@router.post("/login")
async def login(request: Request, state: State) -> Response:
    if state.settings.api_token is None:
        return RedirectResponse("/", status_code=303)
    body = await request.body()
    form = parse_qs(body[:MAX_FORM_BYTES].decode("utf-8", "replace"))
    given = (form.get("token") or [""])[0]
    target = safe_next((form.get("next") or ["/"])[0])
    token = state.settings.api_token.get_secret_value()
    if not given.strip() or not token_matches(token, given):
        return page(
            "login.html",
            status_code=401,
            next=target,
            error="That is not this service's token (PLANEXE_API_TOKEN). Check it and try again.",
            auth_enabled=False,
        )
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session_cookie_value(token),
        max_age=SESSION_MAX_AGE_S,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
async def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response
