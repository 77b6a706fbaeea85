"""The ``Allow`` header of a 405: the methods the resource at the request's path takes.

Starlette's own header names only the first route that matched the path (``/plans`` has
one route for GET and another for POST). Here each method is tried against the routes as
the router would; then, where the path is one the OpenAPI description names, only the most
specific template counts: ``/plans/resume`` also fits ``/plans/{plan_id}`` (whose GET answers
404 for the id "resume"), but the resource there is the bulk resume, which takes POST only.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.routing import Match

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_PARAM = re.compile(r"\{[^}]+\}")


def _template(path: str) -> re.Pattern[str]:
    # "{name}" is one segment; FastAPI's "{name:path}" is listed in OpenAPI as "{name}" too,
    # and the segment rule is what decides specificity here, so both read as one segment.
    parts = _PARAM.split(path)
    return re.compile("[^/]+".join(re.escape(part) for part in parts))


def allowed_methods(request: Request) -> list[str]:
    routes = request.app.router.routes
    served = [
        method
        for method in METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    ]
    path = request.url.path
    fitting = [
        (len(_PARAM.findall(template)), {m.upper() for m in operations})
        for template, operations in request.app.openapi().get("paths", {}).items()
        if _template(template).fullmatch(path)
    ]
    if not fitting:
        return served  # a page or /mcp: not in the OpenAPI description
    fewest = min(count for count, _ in fitting)
    documented = set().union(*(methods for count, methods in fitting if count == fewest))
    return [method for method in served if method in documented] or sorted(documented)
