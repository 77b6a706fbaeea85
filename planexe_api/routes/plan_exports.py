"""/plans/{id}/archive, /report.md and /schedule.csv: a plan taken away, as a zip or as text."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response, StreamingResponse
from pydantic import BeforeValidator

from planexe_api.openapi import errors
from planexe_api.services import plan_archive, plan_export
from planexe_api.services.plan_export import Export
from planexe_api.state import AppState, get_state

router = APIRouter(prefix="/plans", tags=["plans"])
State = Annotated[AppState, Depends(get_state)]
# A schedule spans years at most: any start in this range keeps its last date within a Python date.
START_MIN, START_MAX = date(1900, 1, 1), date(8999, 12, 31)
START_PATTERN = r"^(19[0-9]{2}|[2-8][0-9]{3})-"  # the same range, as the schema can say it


def _iso_date(value: object) -> object:
    """Only YYYY-MM-DD, as the schema says (``format: date``): pydantic alone would take ``0``
    as a Unix time, 1970-01-01."""
    if isinstance(value, str) and not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        raise ValueError("must be a date written YYYY-MM-DD")
    return value


def _disposition(kind: str, filename: str) -> str:
    # Plan ids are hex and the names are ours: nothing here needs quoting beyond the quotes.
    return f'{kind}; filename="{filename}"'


def _document(export: Export, kind: str) -> Response:
    return Response(
        export.text.encode("utf-8"),
        media_type=export.media_type,
        headers={"Content-Disposition": _disposition(kind, export.filename), "Cache-Control": "no-cache"},
    )


@router.get(
    "/{plan_id}/archive",
    response_class=StreamingResponse,
    responses={
        200: {"content": {plan_archive.ZIP_TYPE: {}}, "description": "The plan as a zip."},
        **errors(409),
    },
)
async def get_archive(plan_id: str, state: State) -> StreamingResponse:
    """Everything a finished plan produced, as a zip streamed while it is written: ``status.json``,
    every output under ``outputs/``, ``report.md``, ``schedule.csv`` and ``events.jsonl``.

    409 ``plan_not_finished`` while the plan is queued or running.
    """
    archive = await plan_archive.open_archive(state, plan_id)
    return StreamingResponse(
        plan_archive.archive_chunks(state, archive),
        media_type=plan_archive.ZIP_TYPE,
        headers={"Content-Disposition": _disposition("attachment", archive.filename)},
    )


@router.get(
    "/{plan_id}/report.md",
    response_class=Response,
    responses={
        200: {"content": {plan_export.MARKDOWN_TYPE: {}}, "description": "The report as Markdown."},
        **errors(409),
    },
)
async def get_report_markdown(plan_id: str, state: State) -> Response:
    """The report as Markdown, for people and agents who want text: the same sections in the same
    order as the HTML report. 409 ``report_not_ready`` until the plan is completed."""
    return _document(await plan_export.report_markdown(state, plan_id), "inline")


@router.get(
    "/{plan_id}/schedule.csv",
    response_class=Response,
    responses={
        200: {"content": {plan_export.CSV_TYPE: {}}, "description": "The schedule as CSV."},
        **errors(409),
    },
)
async def get_schedule_csv(
    plan_id: str,
    state: State,
    start: Annotated[
        date | None,
        BeforeValidator(_iso_date),
        Query(
            ge=START_MIN,
            le=START_MAX,
            json_schema_extra={"pattern": START_PATTERN},
            description="the project's first day (YYYY-MM-DD); default: the day it was created",
        ),
    ] = None,
) -> Response:
    """The Gantt's rows as CSV: id, name, level, start/duration/finish/slack in days, critical,
    depends_on (space-separated ids), start_date and finish_date (inclusive) counted from ``start``.

    409 ``schedule_not_ready`` until the plan's schedule step has finished.
    """
    return _document(await plan_export.schedule_export(state, plan_id, start), "attachment")
