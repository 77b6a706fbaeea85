"""Export: the archive zip, the report as Markdown and the schedule as CSV, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import zipfile
from collections.abc import Awaitable, Callable
from datetime import date, timedelta

import anyio
import httpx
from fastapi import FastAPI

from planexe.plan.dag import ALL_TASKS
from planexe.plan.final import SECTIONS
from planexe_api.routes.plan_exports import START_MAX
from planexe_api.state import AppState


def test_a_completed_plan_exports_as_zip_markdown_and_csv(make_service) -> None:
    svc = make_service()
    plan_id = svc.submit()["id"]
    assert svc.wait_status(plan_id)["status"] == "completed"
    files = svc.http.get(f"/plans/{plan_id}/files").json()
    events = svc.events(plan_id)

    # The archive: streamed (no Content-Length, chunked), a valid zip of everything.
    with svc.http.stream("GET", f"/plans/{plan_id}/archive") as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/zip"
        assert response.headers["content-disposition"] == f'attachment; filename="planexe-{plan_id}.zip"'
        assert "content-length" not in response.headers
        assert response.headers.get("transfer-encoding") == "chunked"
        body = response.read()
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert archive.testzip() is None
    names = set(archive.namelist())
    expected = {f"{plan_id}/outputs/{f['name']}" for f in files} | {
        f"{plan_id}/{name}" for name in ("status.json", "report.md", "schedule.csv", "events.jsonl")
    }
    assert names == expected
    for f in files:
        stored = svc.http.get(f"/plans/{plan_id}/files/{f['name']}").content
        assert archive.read(f"{plan_id}/outputs/{f['name']}") == stored, f["name"]
    status = json.loads(archive.read(f"{plan_id}/status.json"))
    assert (status["id"], status["status"]) == (plan_id, "completed")
    assert status["llm_usage"] == svc.plan(plan_id)["llm_usage"]
    logged = [json.loads(line) for line in archive.read(f"{plan_id}/events.jsonl").splitlines()]
    streamed = [e for e in events if e["event"] != "end"]
    assert [e["id"] for e in logged] == [e["id"] for e in streamed] == list(range(1, len(streamed) + 1))
    assert [e["kind"] for e in logged] == [e["event"] for e in streamed]
    assert [e["data"] for e in logged] == [
        {k: v for k, v in e["data"].items() if k != "kind"} for e in streamed
    ]

    # The report as Markdown: every part of the HTML report, in the same order.
    markdown = svc.http.get(f"/plans/{plan_id}/report.md")
    assert markdown.status_code == 200
    assert markdown.headers["content-type"] == "text/markdown; charset=utf-8"
    assert markdown.headers["content-disposition"] == f'inline; filename="planexe-{plan_id}-report.md"'
    assert markdown.content == archive.read(f"{plan_id}/report.md")
    headings = re.findall(r"^## (\d+)\. (.+)$", markdown.text, flags=re.M)
    html = svc.http.get(f"/plans/{plan_id}/report").text
    toc = re.findall(r'<li><span class="n">(\d+)</span><a href="#[^"]+">([^<]+)</a>', html)
    assert headings == toc and len(toc) == len(SECTIONS) + 2
    assert markdown.text.startswith("# ") and "Made offline" in markdown.text

    # The schedule as CSV: one row per scheduled item, dates counted from ?start=.
    schedule = svc.http.get(f"/plans/{plan_id}/files/schedule.json").json()["data"]
    start = date(2030, 1, 7)
    sheet = svc.http.get(f"/plans/{plan_id}/schedule.csv", params={"start": start.isoformat()})
    assert sheet.status_code == 200 and sheet.headers["content-type"] == "text/csv; charset=utf-8"
    assert sheet.headers["content-disposition"] == f'attachment; filename="planexe-{plan_id}-schedule.csv"'
    rows = list(csv.DictReader(io.StringIO(sheet.text)))
    assert [r["id"] for r in rows] == [item["id"] for item in schedule["items"]]
    for row, item in zip(rows, schedule["items"], strict=True):
        assert row["depends_on"].split() == item["depends_on"]
        assert float(row["start_day"]) == item["start_day"] and row["critical"] == (
            "yes" if item["critical"] else "no"
        )
        first = date.fromisoformat(row["start_date"])
        last = date.fromisoformat(row["finish_date"])
        # The first and last day the item occupies, inclusive (schedule_csv.item_dates).
        assert first == start + timedelta(days=math.floor(item["start_day"]))
        assert last == start + timedelta(
            days=max(math.floor(item["start_day"]), math.ceil(item["finish_day"]) - 1)
        )
    default = svc.http.get(f"/plans/{plan_id}/schedule.csv").text
    created = date.fromisoformat(svc.plan(plan_id)["created_at"][:10])
    assert next(csv.DictReader(io.StringIO(default)))["start_date"] == created.isoformat()
    assert archive.read(f"{plan_id}/schedule.csv").decode() == default
    # A start near the end of the calendar would overflow the last dates: refused, not a 500.
    for bad in ("9999-12-31", "0001-01-01", "0", "1700000000", "2030-1-7"):
        refused = svc.http.get(f"/plans/{plan_id}/schedule.csv", params={"start": bad})
        assert refused.status_code == 422 and refused.json()["code"] == "invalid_request", refused.text
    latest = svc.http.get(f"/plans/{plan_id}/schedule.csv", params={"start": START_MAX.isoformat()})
    assert latest.status_code == 200
    assert {cls.output_filename() for cls in ALL_TASKS} <= {f["name"] for f in files}


def _serve(app: FastAPI, scenario: Callable[[httpx.AsyncClient, AppState], Awaitable[None]]) -> None:
    async def main() -> None:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
                await scenario(client, app.state.planexe)

    anyio.run(main)


def test_missing_and_unfinished_plans_answer_404_and_409(app: FastAPI) -> None:
    async def scenario(client: httpx.AsyncClient, state: AppState) -> None:
        for path in ("archive", "report.md", "schedule.csv"):
            missing = await client.get(f"/plans/nosuchplan/{path}")
            assert (missing.status_code, missing.json()["code"]) == (404, "plan_not_found"), path
        queued = (await client.post("/plans", json={"prompt": "Open a bakery"})).json()["id"]
        for path, code in (
            ("archive", "plan_not_finished"),
            ("report.md", "report_not_ready"),
            ("schedule.csv", "schedule_not_ready"),
        ):
            answer = await client.get(f"/plans/{queued}/{path}")
            assert (answer.status_code, answer.json()["code"]) == (409, code), path
            assert answer.json()["message"]
        bad = await client.get(f"/plans/{queued}/schedule.csv", params={"start": "next tuesday"})
        assert (bad.status_code, bad.json()["code"]) == (422, "invalid_request")
        # A cancelled plan that never ran: an archive of its status and events, nothing else.
        await client.post(f"/plans/{queued}/cancel")
        archive = await client.get(f"/plans/{queued}/archive")
        assert archive.status_code == 200
        names = zipfile.ZipFile(io.BytesIO(archive.content)).namelist()
        assert names == [f"{queued}/status.json", f"{queued}/events.jsonl"]

    _serve(app, scenario)
