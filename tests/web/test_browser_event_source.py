"""A browser's own EventSource on a finished plan's stream: every event once, then it stops.

The dashboard reads the stream with fetch (plan-stream.js), but anyone's page may use
EventSource, which reconnects on its own whenever a stream closes. It stops only when
a reconnect is answered 204 (or an error status); before, a finished plan was asked
for its stream every 2 s for as long as the page stayed open.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from planexe.testing.service import Service

LISTEN = """
(url) => new Promise((resolve) => {
  const seen = [];
  let opens = 0;
  const source = new EventSource(url);
  source.onopen = () => { opens += 1; };
  for (const kind of ["plan_queued", "plan_cancelled", "end"]) {
    source.addEventListener(kind, (event) => seen.push([event.lastEventId, kind, JSON.parse(event.data)]));
  }
  // Closed for good: EventSource gave up reconnecting (it does so on a 204).
  source.onerror = () => { if (source.readyState === EventSource.CLOSED) resolve({ seen, opens }); };
})
"""


def test_event_source_gets_each_event_once_then_stops_reconnecting(
    new_page: Callable[..., Any], make_service: Callable[..., Service]
) -> None:
    svc = make_service(PLANEXE_RUNNER="false")
    plan_id = svc.submit()["id"]
    assert svc.http.post(f"/plans/{plan_id}/cancel").json()["status"] == "cancelled"
    page = new_page()
    page.goto(f"{svc.base_url}/")  # the stream is then same-origin, as on any page of the service
    result = page.evaluate(LISTEN, f"/plans/{plan_id}/events")
    assert [(event_id, kind) for event_id, kind, _ in result["seen"]] == [
        ("1", "plan_queued"),
        ("2", "plan_cancelled"),
        ("3", "end"),
    ]
    assert result["seen"][-1][2] == {"status": "cancelled"}
    # One stream, then one reconnect that was told 204 (a reconnect that opened would count).
    assert result["opens"] == 1
