"""A plan's event stream as the CLI follows it: Server-Sent Events, reconnecting where it stopped.

The stream ends with ``end`` once the plan has finished. Anything else that
ends it (the service restarting, a proxy timing out, a database outage, which
the service reports by closing the stream) is followed by a reconnect with
``Last-Event-ID`` set to the last event received, so no event is lost or
shown twice; a reconnect that already has everything is answered 204. The
follower gives up after ``patience_s`` seconds without getting through.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from planexe_api.client.api import CONNECT_TIMEOUT_S, Api, ClientError, error_of

STREAM_READ_TIMEOUT_S = 45.0  # the service sends a keep-alive comment every 15 s of quiet
RECONNECT_FIRST_S = 0.5  # then doubling, up to RECONNECT_MAX_S
RECONNECT_MAX_S = 5.0
PATIENCE_S = 120.0  # default: how long to keep trying to get back in


@dataclass(frozen=True)
class Event:
    id: int
    kind: str
    data: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "event": self.kind, "data": self.data}


def parse(lines: Iterable[str]) -> Iterator[Event]:
    """Events from the lines of a ``text/event-stream`` body (comments and ``retry:`` skipped)."""
    fields: dict[str, str] = {}
    data: list[str] = []
    for line in lines:
        if not line:
            if "event" in fields and "id" in fields:
                payload = json.loads("\n".join(data)) if data else {}
                yield Event(int(fields["id"]), fields["event"], payload if isinstance(payload, dict) else {})
            fields, data = {}, []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            data.append(value)
        elif name in ("id", "event"):
            fields[name] = value


Reconnecting = Callable[[int, float, str], None]  # (last event id, delay s, why) before each reconnect


def follow(
    api: Api,
    plan_id: str,
    *,
    after: int = 0,
    patience_s: float = PATIENCE_S,
    on_reconnect: Reconnecting | None = None,
) -> Iterator[Event]:
    """Every event of the plan after ``after``, ``end`` last; ClientError if the plan is unknown or
    the service stays out of reach for ``patience_s``."""
    last = after
    delay = RECONNECT_FIRST_S
    lost_since: float | None = None
    timeout = httpx.Timeout(CONNECT_TIMEOUT_S, read=STREAM_READ_TIMEOUT_S)
    while True:
        why = "the stream ended before the plan did"
        try:
            headers = (
                {"Last-Event-ID": str(last), "Accept": "text/event-stream"}
                if last
                else {"Accept": "text/event-stream"}
            )
            with api.http.stream(
                "GET", f"/plans/{plan_id}/events", headers=headers, timeout=timeout
            ) as response:
                if response.status_code == 204:  # nothing after `last`, end included: done
                    return
                if response.status_code >= 400:
                    response.read()
                    error = error_of(response)
                    if response.status_code < 500:
                        raise error
                    why = error.message
                else:
                    for event in parse(response.iter_lines()):
                        lost_since, delay = None, RECONNECT_FIRST_S
                        last = event.id
                        yield event
                        if event.kind == "end":
                            return
        except httpx.TransportError as exc:
            why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        now = time.monotonic()
        lost_since = lost_since if lost_since is not None else now
        if now - lost_since > patience_s:
            raise ClientError(
                "stream_lost",
                f"lost the event stream of plan {plan_id} at event {last} and could not get back in for "
                f"{patience_s:.0f} s ({why}); run `planexe plans watch {plan_id} --after {last}` to go on",
            )
        if on_reconnect is not None:
            on_reconnect(last, delay, why)
        time.sleep(delay)
        delay = min(delay * 2, RECONNECT_MAX_S)
