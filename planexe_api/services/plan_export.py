"""A plan's report as Markdown and its schedule as CSV, built from the outputs in the database.

Both come from the stored step outputs, not from a run directory, so any
replica answers for any plan. The Markdown is made from the same content as
the HTML report (``planexe.plan.final.report_content``), rendered as text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.orm import Session

from planexe.pipeline.base import PlanTask
from planexe.plan.final import STEPS, Report, report_content
from planexe.plan.safety import SafetyGate, refusal_content
from planexe.plan.schedule import Schedule, ScheduleOutput
from planexe.plan.schedule_csv import schedule_csv
from planexe.report import render_markdown
from planexe.report.refusal import render_refusal_markdown
from planexe_api.db import repo_files, repo_plans
from planexe_api.db.models import Plan, PlanStatus
from planexe_api.errors import Conflict, NotFound
from planexe_api.services.plan_actions import check_plan_id, completed_plan, plan_not_found
from planexe_api.state import AppState

MARKDOWN_TYPE = "text/markdown; charset=utf-8"
CSV_TYPE = "text/csv; charset=utf-8"


@dataclass(frozen=True)
class Export:
    """A generated document: its text, media type and the file name to save it as."""

    text: str
    media_type: str
    filename: str


def export_name(plan_id: str, what: str) -> str:
    return f"planexe-{plan_id}-{what}"


def _envelope(files: dict[str, bytes], task: type[PlanTask], plan_id: str) -> dict[str, Any]:
    name = task.output_filename()
    if name not in files:
        raise NotFound(f"plan {plan_id} has no file {name!r}", code="file_not_found")
    envelope: dict[str, Any] = json.loads(files[name])
    return envelope


async def report_markdown(state: AppState, plan_id: str) -> Export:
    """The report as Markdown; Conflict ``report_not_ready`` until the plan is completed (a refused
    plan's says why it was not planned)."""
    plan = await completed_plan(state, plan_id, refused_too=True)
    if plan.status == PlanStatus.REFUSED:
        return await _refusal_markdown(state, plan)
    tasks: list[type[PlanTask]] = [*STEPS, Report]
    names = [task.output_filename() for task in tasks]
    files = await state.store.run(lambda s: repo_files.file_contents(s, plan_id, names))
    content = report_content(lambda task: _envelope(files, task, plan_id), plan.prompt)
    # The Markdown says it was generated when the HTML report was: it is the same report.
    made = _envelope(files, Report, plan_id).get("created_at")
    generated_at = datetime.fromtimestamp(made, UTC) if isinstance(made, int | float) else plan.updated_at
    text = render_markdown(content, generated_at=generated_at)
    return Export(text, MARKDOWN_TYPE, export_name(plan_id, "report.md"))


async def _refusal_markdown(state: AppState, plan: Plan) -> Export:
    name = SafetyGate.output_filename()
    files = await state.store.run(lambda s: repo_files.file_contents(s, plan.id, [name]))
    refusal = refusal_content(_envelope(files, SafetyGate, plan.id), plan.prompt)
    text = render_refusal_markdown(refusal, generated_at=plan.finished_at or plan.updated_at)
    return Export(text, MARKDOWN_TYPE, export_name(plan.id, "report.md"))


async def schedule_export(state: AppState, plan_id: str, start: date | None = None) -> Export:
    """The schedule as CSV with dates from ``start`` (default: the day the plan was created, UTC);
    Conflict ``schedule_not_ready`` until the plan's Schedule step has finished."""
    check_plan_id(plan_id)

    def read(session: Session) -> tuple[date, bytes | None]:
        plan = repo_plans.get_plan(session, plan_id)
        if plan is None:
            raise plan_not_found(plan_id)
        stored = repo_files.file_contents(session, plan_id, [Schedule.output_filename()])
        return plan.created_at.date(), stored.get(Schedule.output_filename())

    created, raw = await state.store.run(read)
    if raw is None:
        raise Conflict(
            f"plan {plan_id} has no schedule yet: its {Schedule.step_name()} step has not finished; "
            f"poll /plans/{plan_id}",
            code="schedule_not_ready",
        )
    schedule = ScheduleOutput.model_validate(json.loads(raw)["data"])
    return Export(schedule_csv(schedule, start or created), CSV_TYPE, export_name(plan_id, "schedule.csv"))
