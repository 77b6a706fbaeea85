"""The REST API over httpx: requests, downloads and streams, with the API's errors as one exception.

An answer of 400 or more becomes ``ClientError`` with the body's ``code`` and
``message`` (every PlanExe error has them); a service that cannot be reached
becomes ``ClientError`` with code ``service_unreachable``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from planexe import __version__

DEFAULT_URL = "http://127.0.0.1:8000"
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 60.0  # for a request; streams wait longer (see events.py)


class ClientError(Exception):
    """What the service (or the way to it) said went wrong: one line for the user."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def error_of(response: httpx.Response) -> ClientError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return ClientError(str(body.get("code") or "http_error"), body["message"], response.status_code)
    text = response.text.strip().splitlines()[0][:200] if response.text.strip() else response.reason_phrase
    return ClientError("http_error", f"HTTP {response.status_code}: {text}", response.status_code)


class Api:
    def __init__(self, url: str, token: str | None, *, read_timeout_s: float = READ_TIMEOUT_S) -> None:
        self.url = url.rstrip("/")
        headers = {"User-Agent": f"planexe-cli/{__version__}", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.http = httpx.Client(
            base_url=self.url,
            headers=headers,
            timeout=httpx.Timeout(CONNECT_TIMEOUT_S, read=read_timeout_s),
        )

    def close(self) -> None:
        self.http.close()

    def unreachable(self, exc: httpx.TransportError) -> ClientError:
        return ClientError(
            "service_unreachable",
            f"cannot reach PlanExe at {self.url} ({type(exc).__name__}: {exc or 'no answer'}); "
            "is `planexe serve` running there? (--url)",
        )

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The answer to one request; ClientError for an error answer or no answer."""
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise self.unreachable(exc) from exc
        if response.status_code >= 400:
            raise error_of(response)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()

    @contextmanager
    def stream(self, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        """A GET whose body is read as it arrives (downloads); errors as ``request``."""
        try:
            with self.http.stream("GET", path, **kwargs) as response:
                if response.status_code >= 400:
                    response.read()
                    raise error_of(response)
                yield response
        except httpx.TransportError as exc:
            raise self.unreachable(exc) from exc
