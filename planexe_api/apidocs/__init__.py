"""``/docs``: Swagger UI over ``/openapi.json``, served from this package, so it works offline.

FastAPI's own page loads Swagger UI from a CDN and starts it with an inline
script: with no internet it is blank, and it needs a loose Content-Security-Policy.
Here the page is ours (``docs.html``), the scripts are files (Swagger UI's
bundle, vendored in ``assets/swagger-ui-<version>/`` with its licence, and
``assets/docs-init.js``), and the policy allows nothing but this origin. ReDoc
(FastAPI's ``/redoc``, also from a CDN) is not offered.

To update Swagger UI: ``npm pack swagger-ui-dist@<version>``, copy
``swagger-ui-bundle.js``, ``swagger-ui.css``, ``LICENSE``, ``NOTICE`` and
``swagger-ui-bundle.js.LICENSE.txt`` into ``assets/swagger-ui-<version>/``, change
``SWAGGER_UI_VERSION`` (and the folder in pyproject's package-data).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

SWAGGER_UI_VERSION = "5.35.0"
DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"
HERE = Path(__file__).resolve().parent
ASSETS_DIR = HERE / "assets"
# Swagger UI renders with inline style attributes and reads the schema with fetch; nothing else.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def _page() -> str:
    assets = f"{ASSETS_PATH}/swagger-ui-{SWAGGER_UI_VERSION}"
    return (HERE / "docs.html").read_text().replace("{{ assets }}", assets).replace("{{ init }}", ASSETS_PATH)


def install(app: FastAPI) -> None:
    """Serve the page and its assets; the app must be made with ``docs_url=None``."""
    page = _page()

    async def docs(_: Request) -> HTMLResponse:
        return HTMLResponse(page, headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache"})

    app.add_route(DOCS_PATH, docs, methods=["GET"], include_in_schema=False)
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS_DIR), name="apidocs")
