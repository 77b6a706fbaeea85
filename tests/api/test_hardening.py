"""Hostile input gets a clear 4xx, never a 500 or a dropped response (issue 13), on SQLite and PostgreSQL.

Each test is one class of input that used to reach an unhandled exception:
text the databases cannot hold, numbers and dates past their types, ids that
are not ids, an empty idempotency key, and bodies larger than any legal request.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from apihelpers import serve
from fastapi import FastAPI
from sqlalchemy import Engine, event

from planexe.pipeline.rundir import MAX_PROMPT_CHARS
from planexe.testing.service import Service, service_env
from planexe_api.routes.sse import MAX_EVENT_ID
from planexe_api.state import AppState


def raw_json(text: str) -> dict[str, Any]:
    """A JSON body as raw bytes: the escapes (``\\ud800``, ``\\u0000``) go out as written."""
    return {"content": text.encode(), "headers": {"content-type": "application/json"}}


def problem(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code, body
    return str(body["message"])


class Statements:
    """Counts the SQL statements every engine of this process sends while it is open."""

    def __init__(self) -> None:
        self.count = 0

    def _seen(self, *_: Any) -> None:
        self.count += 1

    def __enter__(self) -> Statements:
        event.listen(Engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *_: Any) -> None:
        event.remove(Engine, "before_cursor_execute", self._seen)


LONE_SURROGATE = r"x\ud800y"
NUL = r"x\u0000y"


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ({"prompt": LONE_SURROGATE}, "prompt", "lone UTF-16 surrogate (U+D800)"),
        ({"prompt": r"x\udfffy"}, "prompt", "lone UTF-16 surrogate (U+DFFF)"),
        ({"prompt": NUL}, "prompt", "NUL character (U+0000)"),
        ({"prompt": "ok", "llm_model": NUL}, "llm_model", "NUL character"),
        ({"prompt": "ok", "llm_model": LONE_SURROGATE}, "llm_model", "lone UTF-16 surrogate"),
    ],
)
def test_text_the_databases_cannot_hold_is_refused_naming_the_field(
    app: FastAPI, body: dict[str, str], field: str, fragment: str
) -> None:
    async def scenario(client: httpx.AsyncClient, state: AppState) -> None:
        # Built by hand so the escapes reach the server as JSON escapes.
        text = "{" + ", ".join(f'"{k}": "{v}"' for k, v in body.items()) + "}"
        message = problem(await client.post("/plans", **raw_json(text)), 422, "invalid_request")
        assert message.startswith(f"{field}: ") and fragment in message
        assert (await client.get("/plans")).json()["items"] == []

    serve(app, scenario)


def test_text_checks_cover_search_and_retry_and_keep_real_unicode(app: FastAPI) -> None:
    async def scenario(client: httpx.AsyncClient, state: AppState) -> None:
        # A character outside the BMP arrives as a surrogate *pair*: real text, stored as sent.
        created = await client.post("/plans", **raw_json(r'{"prompt": "Open a bakery \ud83e\udd50 in Oslo"}'))
        assert created.status_code == 202, created.text
        plan = created.json()
        assert plan["prompt"] == "Open a bakery \U0001f950 in Oslo"
        found = await client.get("/plans", params={"q": "\U0001f950"})
        assert [p["id"] for p in found.json()["items"]] == [plan["id"]]

        message = problem(await client.get("/plans", params={"q": "a\x00b"}), 422, "invalid_request")
        assert message.startswith("q: ") and "NUL" in message
        assert (await client.get("/", params={"q": "a\x00b"})).status_code == 422

        await client.post(f"/plans/{plan['id']}/cancel")
        retried = await client.post(f"/plans/{plan['id']}/retry", **raw_json(f'{{"llm_model": "{NUL}"}}'))
        assert problem(retried, 422, "invalid_request").startswith("llm_model: ")
        assert len((await client.get("/plans")).json()["items"]) == 1

    serve(app, scenario)


def _cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


PLAN_ID = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    "cursor",
    [
        _cursor(f"0001-01-01T00:00:00+05:00|{PLAN_ID}"),  # before year 1 once moved to UTC
        _cursor(f"9999-12-31T23:59:59-05:00|{PLAN_ID}"),  # after year 9999 in UTC
        _cursor(f"2026-01-01T00:00:00|{PLAN_ID}"),  # no zone
        _cursor("2026-01-01T00:00:00+00:00|a\x00b"),  # not a plan id (PostgreSQL refuses the NUL)
        _cursor("2026-13-01T00:00:00+00:00|x"),
        "garbage",
        "%%%",
        base64.urlsafe_b64encode(b"\xff\xfe|x").decode(),
    ],
)
def test_list_cursors_that_decode_to_nothing_valid_are_400(app: FastAPI, cursor: str) -> None:
    async def scenario(client: httpx.AsyncClient, state: AppState) -> None:
        await client.post("/plans", json={"prompt": "Open a bakery"})
        problem(await client.get("/plans", params={"cursor": cursor}), 400, "invalid_cursor")
        page = await client.get("/", params={"cursor": cursor})
        assert page.status_code == 400 and "invalid_cursor" in page.text

    serve(app, scenario)


def test_a_cursor_this_service_made_still_pages(app: FastAPI) -> None:
    async def scenario(client: httpx.AsyncClient, state: AppState) -> None:
        ids = [(await client.post("/plans", json={"prompt": f"Plan {i}"})).json()["id"] for i in range(3)]
        first = (await client.get("/plans", params={"limit": 2})).json()
        rest = (await client.get("/plans", params={"limit": 2, "cursor": first["next_cursor"]})).json()
        assert [p["id"] for p in first["items"] + rest["items"]] == ids[::-1]
        problem(await client.get("/plans", params={"cursor": "x" * 201}), 422, "invalid_request")

    serve(app, scenario)


@pytest.mark.parametrize(
    "value",
    [str(2**63), str(2**64 + 5), str(MAX_EVENT_ID + 1), "-1", "1e3", "0x10", "12abc", "١٢", "9" * 5000],
)
def test_event_ids_past_the_bound_or_not_numbers_are_400_before_the_stream(app: FastAPI, value: str) -> None:
    async def scenario(client: httpx.AsyncClient, state: AppState) -> None:
        plan_id = (await client.post("/plans", json={"prompt": "Open a bakery"})).json()["id"]
        url = f"/plans/{plan_id}/events"
        message = problem(await client.get(url, params={"after": value}), 400, "invalid_last_event_id")
        assert message.startswith("after must be")
        header = await client.get(url, headers={"Last-Event-ID": value.encode()})
        assert problem(header, 400, "invalid_last_event_id").startswith("Last-Event-ID must be")
        # A bad header is refused even when ?after= says where to start.
        both = await client.get(url, params={"after": "0"}, headers={"Last-Event-ID": value.encode()})
        problem(both, 400, "invalid_last_event_id")

    serve(app, scenario)


def test_the_largest_event_id_is_accepted(app: FastAPI) -> None:
    async def scenario(client: httpx.AsyncClient, state: AppState) -> None:
        plan_id = (await client.post("/plans", json={"prompt": "Open a bakery"})).json()["id"]
        await client.post(f"/plans/{plan_id}/cancel")
        for params, headers in (
            ({"after": str(MAX_EVENT_ID)}, {}),
            ({}, {"Last-Event-ID": f" {MAX_EVENT_ID} "}),
        ):
            response = await client.get(f"/plans/{plan_id}/events", params=params, headers=headers)
            assert response.status_code == 204, response.text  # valid, and past everything there is

    serve(app, scenario)


def parse_sse(text: str) -> list[tuple[int | None, str]]:
    """(id, event) of each event block in a stream's body; comments and ``retry:`` left out."""
    out = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and line[0] != ":")
        if "event" in fields:
            out.append((int(fields["id"]) if "id" in fields else None, fields["event"]))
    return out


def test_end_has_its_own_id_and_a_reconnect_after_it_is_204(app: FastAPI) -> None:
    async def scenario(client: httpx.AsyncClient, state: AppState) -> None:
        plan_id = (await client.post("/plans", json={"prompt": "Open a bakery"})).json()["id"]
        await client.post(f"/plans/{plan_id}/cancel")
        url = f"/plans/{plan_id}/events"
        events = parse_sse((await client.get(url)).text)
        # Unique, increasing ids; end last, with the id after the last event's.
        assert events == [(1, "plan_queued"), (2, "plan_cancelled"), (3, "end")]
        assert (await client.get(f"/plans/{plan_id}")).json()["last_event_id"] == 2
        # A client with every event but end gets end alone.
        assert parse_sse((await client.get(url, headers={"Last-Event-ID": "2"})).text) == [(3, "end")]
        # One that has end too (a browser reconnecting after it) is told there is nothing more.
        for headers, params in (
            ({"Last-Event-ID": "3"}, {}),
            ({}, {"after": "3"}),
            ({"Last-Event-ID": "7"}, {}),
        ):
            done = await client.get(url, headers=headers, params=params)
            assert (done.status_code, done.content) == (204, b""), (headers, params)
            assert "content-type" not in done.headers

        # Resumed and cancelled again: the new events continue the numbering, end follows them.
        await client.post(f"/plans/{plan_id}/resume")
        await client.post(f"/plans/{plan_id}/cancel")
        again = parse_sse((await client.get(url, headers={"Last-Event-ID": "2"})).text)
        assert again == [(3, "plan_resumed"), (4, "plan_cancelled"), (5, "end")]
        ids = [i for i, _ in parse_sse((await client.get(url)).text)]
        assert ids == sorted(set(ids)) == [1, 2, 3, 4, 5]

    serve(app, scenario)


NOT_IDS = ["a%00b", "x" * 300, "0123456789ABCDEF0123456789ABCDEF", "%F0%9F%A5%90", "a.b", "1"]


def test_ids_that_are_not_plan_ids_are_404_without_touching_the_database(app: FastAPI) -> None:
    async def scenario(client: httpx.AsyncClient, state: AppState) -> None:
        for plan_id in NOT_IDS:
            with Statements() as sql:
                for method, path in [
                    ("GET", ""),
                    ("GET", "/dag"),
                    ("GET", "/tasks/identify_purpose"),
                    ("GET", "/files"),
                    ("GET", "/files/report.html"),
                    ("GET", "/report"),
                    ("GET", "/events"),
                    ("POST", "/cancel"),
                    ("POST", "/resume"),
                    ("POST", "/retry"),
                    ("GET", "/archive"),
                    ("GET", "/report.md"),
                    ("GET", "/schedule.csv"),
                ]:
                    before = sql.count
                    response = await client.request(method, f"/plans/{plan_id}{path}")
                    problem(response, 404, "plan_not_found")
                    assert sql.count == before, (method, path)
                page = await client.get(f"/plans/{plan_id}/view")
                assert page.status_code == 404
            assert sql.count == 0, plan_id

    serve(app, scenario)


def test_an_empty_idempotency_key_is_refused_not_stored(app: FastAPI) -> None:
    async def scenario(client: httpx.AsyncClient, state: AppState) -> None:
        for key in ("", "   ", "\t"):
            response = await client.post(
                "/plans", json={"prompt": "Open a bakery"}, headers={"Idempotency-Key": key}
            )
            assert "Idempotency-Key is empty" in problem(response, 400, "invalid_idempotency_key")
        assert (await client.get("/plans")).json()["items"] == []
        plan_id = (await client.post("/plans", json={"prompt": "Open a bakery"})).json()["id"]
        await client.post(f"/plans/{plan_id}/cancel")
        retried = await client.post(f"/plans/{plan_id}/retry", headers={"Idempotency-Key": ""})
        problem(retried, 400, "invalid_idempotency_key")
        # Without the header, two requests are two plans, as before.
        second = (await client.post("/plans", json={"prompt": "Open a bakery"})).json()["id"]
        assert second != plan_id

    serve(app, scenario)


@pytest.fixture
def capped_service(tmp_path: Path) -> Iterator[Service]:
    """A real server (uvicorn on loopback) with the smallest body cap the setting allows."""
    env = service_env(
        f"sqlite:///{tmp_path / 'planexe.db'}",
        tmp_path,
        {"PLANEXE_RUNNER": "false", "PLANEXE_MAX_BODY_BYTES": "65536"},
    )
    service = Service(env, tmp_path).start()
    yield service
    service.close()


def _chunks(data: bytes, size: int = 8192) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_bodies_over_the_cap_are_413_while_they_arrive(capped_service: Service) -> None:
    too_big = json.dumps({"prompt": "x" * 200_000}).encode()
    headers = {"content-type": "application/json"}
    for content in (too_big, _chunks(too_big)):  # with a Content-Length, then chunked without one
        with httpx.Client(base_url=capped_service.base_url, timeout=30) as client:
            response = client.post("/plans", content=content, headers=headers)
        message = problem(response, 413, "request_too_large")
        assert "65536 bytes (PLANEXE_MAX_BODY_BYTES)" in message
    # The largest legal request (every character of the longest prompt escaped) still fits.
    largest = json.dumps({"prompt": "é" * MAX_PROMPT_CHARS, "detail": "fast"}, ensure_ascii=True).encode()
    assert len(largest) > 48_000
    for content in (largest, _chunks(largest)):
        with httpx.Client(base_url=capped_service.base_url, timeout=30) as client:
            assert client.post("/plans", content=content, headers=headers).status_code == 202
    assert len(capped_service.http.get("/plans").json()["items"]) == 2


@pytest.mark.parametrize(
    "body",
    [
        {"since": "9999-12-31T23:59:59-05:00"},  # past year 9999 once moved to UTC
        {"since": "0001-01-01T00:00:00+05:00"},
        {"since": 0},  # a number is not a time, whatever pydantic would make of it
        {"since": "2030-01-01T00:00:00"},  # no zone
        {"limit": True},
    ],
)
def test_bulk_resume_refuses_times_and_numbers_out_of_their_types(app: FastAPI, body: dict) -> None:
    async def scenario(client: httpx.AsyncClient, state: AppState) -> None:
        problem(await client.post("/plans/resume", json=body), 422, "invalid_request")
        assert (await client.post("/plans/resume", json={"since": "2030-01-01T00:00:00Z"})).status_code == 200

    serve(app, scenario)
