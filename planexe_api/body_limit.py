"""A cap on request bodies (``PLANEXE_MAX_BODY_BYTES``), enforced while the body arrives.

FastAPI reads a whole body into memory before it validates anything, so without
a cap one 50 MB request costs the process 50 MB or more (measured in
bench/body_limit.py). This ASGI middleware refuses a declared ``Content-Length``
over the cap before the application runs, and counts the chunks of a body sent
without one (chunked encoding), failing the read as soon as the count passes the
cap. Either way the client gets 413 ``request_too_large`` with the usual
``{code, message}`` body.

When the count passes the cap mid-read, whatever the application then answers
(FastAPI turns a failed read into a 400) is dropped in favour of the 413; only a
response that had already started is left alone (nothing can replace it then).
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from planexe_api.errors import error_body

TOO_LARGE = 413


class BodyTooLarge(Exception):
    """The request body passed the cap while it was being read."""


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send, declared)
            return
        received = 0
        exceeded = False
        started = False

        async def counted_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise BodyTooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return  # the application's answer to a body it could not read; the 413 replaces it
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except BodyTooLarge:
            if started:
                raise
        if exceeded and not started:
            await self._refuse(send, None)

    async def _refuse(self, send: Send, declared: int | None) -> None:
        size = f"{declared} bytes, " if declared is not None else ""
        message = (
            f"the request body is {size}over the limit of {self.max_bytes} bytes "
            "(PLANEXE_MAX_BODY_BYTES); send a smaller one"
        )
        body = json.dumps(error_body("request_too_large", message)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": TOO_LARGE,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    # The rest of the body is never read: the connection cannot be reused.
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length before we see it
    return None
