"""The web dashboard: server-rendered pages over the API, small scripts, no build step.

``install(app)`` adds the pages, the login form and the static files to the
app. Paths the token check leaves open are listed here: the login form
itself, and the stylesheet and scripts (which hold nothing secret).
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from planexe_api.web import login, pages
from planexe_api.web.templating import STATIC_DIR

LOGIN_PATH = "/login"
OPEN_PATHS = frozenset({LOGIN_PATH, "/logout"})
OPEN_PREFIXES = ("/static/",)


def install(app: FastAPI) -> None:
    app.include_router(login.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
