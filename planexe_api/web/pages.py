"""The dashboard's pages: the plan list with the new-plan form (``/``) and a plan (``/plans/{id}/view``).

Each page is a view of JSON the API serves (``GET /plans``, ``GET /plans/{id}``,
``/dag``, ``/files``, ``/tasks/{task}``): the handlers call the same service
functions as those routes (``services/plan_actions``, ``services/plan_views``)
and render their bodies, so a page can never tell a different story than the API. The ``/view/...`` fragments are the parts a page
refreshes while a plan runs.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from starlette.responses import HTMLResponse, Response

from planexe.llm.config import OFFLINE_MODEL_NAME
from planexe.pipeline.reruns import MAX_FEEDBACK_CHARS
from planexe.pipeline.rundir import MAX_PROMPT_CHARS
from planexe_api.dag_schemas import DagOut, TaskDetailOut
from planexe_api.db import repo_reruns
from planexe_api.db.models import PlanStatus, utcnow
from planexe_api.db.storable import StorableText
from planexe_api.errors import ApiError, NotFound
from planexe_api.schemas import PlanListOut, PlanOut
from planexe_api.services import plan_actions, plan_eta, plan_views
from planexe_api.state import AppState, get_state
from planexe_api.web.dag_layout import layout
from planexe_api.web.dag_svg import dag_svg
from planexe_api.web.failure import advice
from planexe_api.web.responses import HEADERS, page
from planexe_api.web.templating import render

router = APIRouter(include_in_schema=False)
State = Annotated[AppState, Depends(get_state)]

EXAMPLE_PROMPTS = (
    "Open a small bakery in Copenhagen that sells sourdough bread and pastries, with two employees.",
    "Build a community solar garden on a school roof in Leeds, funded by the parents' association.",
    "Launch a mobile app that helps people in Lisbon swap houseplants, built by a team of three in six months.",
)
PAGE_SIZE = 20  # plans per page of the list
REFRESH_MAX = 100  # the most rows a live refresh of the list asks for (the API's page limit)
PARTS = ("facts", "files", "usage", "failure")


def _common(state: AppState) -> dict[str, Any]:
    return {"auth_enabled": state.settings.api_token is not None}


def _fragment(template: str, headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    return HTMLResponse(render(template, **context), headers={**HEADERS, **(headers or {})})


def _error_page(state: AppState, exc: ApiError) -> HTMLResponse:
    return page("error.html", status_code=exc.status, code=exc.code, message=exc.message, **_common(state))


@router.get("/", response_class=HTMLResponse)
async def home(
    state: State,
    status: str | None = None,
    q: Annotated[StorableText | None, Query(max_length=plan_actions.SEARCH_MAX_CHARS)] = None,
    cursor: Annotated[str | None, Query(max_length=plan_actions.CURSOR_MAX_CHARS)] = None,
    limit: Annotated[int, Query(ge=1, le=REFRESH_MAX)] = PAGE_SIZE,
    fragment: Literal["list", "rows"] | None = None,
) -> Response:
    """The new-plan form and the plans, newest first (the view of ``GET /plans``)."""
    params = {"status": status or "", "q": (q or "").strip()}
    try:
        if status and status not in set(PlanStatus):
            raise ApiError(
                f"status must be one of {', '.join(PlanStatus)}, not {status!r}", code="invalid_request"
            )
        listing: PlanListOut = await plan_actions.list_plans(
            state,
            status=status or None,  # type: ignore[arg-type]
            limit=limit,
            cursor=cursor,
            search=params["q"] or None,
        )
    except ApiError as exc:
        if fragment:
            raise
        return _error_page(state, exc)
    context: dict[str, Any] = {
        "plans": listing.items,
        "next_cursor": listing.next_cursor,
        "counts": listing.counts,
        "params": params,
    }
    if fragment == "rows":
        return _fragment("_plan_rows.html", headers={"X-Next-Cursor": listing.next_cursor or ""}, **context)
    if fragment == "list":
        return _fragment("_plan_list_body.html", **context)
    models = [name for name in state.llm_config.models if name != OFFLINE_MODEL_NAME]
    return page(
        "home.html",
        examples=EXAMPLE_PROMPTS,
        max_prompt=MAX_PROMPT_CHARS,
        models=models,
        default_model=state.llm_config.chain[0].name if state.llm_config.chain else None,
        **context,
        **_common(state),
    )


async def _task_context(state: AppState, plan: PlanOut, task: str) -> dict[str, Any]:
    detail: TaskDetailOut = await plan_views.task_out(state, plan.id, task)
    output: Any = None
    envelope: dict[str, Any] = {}
    if detail.output is not None:
        name = detail.output.rsplit("/", 1)[-1]
        try:
            stored = await plan_actions.read_file(state, plan.id, name)
            envelope = json.loads(stored.content)
            output = envelope.get("data", envelope)
        except (NotFound, ValueError):
            output = None
    return {
        "task": detail,
        "output": output,
        "envelope": envelope,
        "plan": plan,
        "rerun": _rerun_offer(state, plan, task),
    }


async def _files_context(state: AppState, plan_id: str) -> dict[str, Any]:
    """The current files, and per file name the earlier versions reruns replaced."""
    listed = await plan_actions.list_files(state, plan_id, versions=True)
    earlier: dict[str, list[Any]] = {}
    for f in listed:
        if not f.current:
            earlier.setdefault(f.name, []).append(f)
    current = [f for f in listed if f.current]
    return {
        "files": current,
        "earlier": earlier,
        "replaced": sorted(set(earlier) - {f.name for f in current}),
    }


def _rerun_offer(state: AppState, plan: PlanOut, task: str) -> dict[str, Any] | None:
    """What regenerating ``task`` would run (the POST /plans/{id}/rerun answer's ``tasks``), for a
    plan that can be rerun; None while it is queued or running, and for a refused plan."""
    if plan.status not in repo_reruns.RERUNNABLE:
        return None
    structure = plan_eta.dag_of(state, plan)
    tasks = structure.downstream([task])
    return {
        "tasks": tasks,
        "calls": sum(structure.by_name[name].llm_calls for name in tasks),
        "max_feedback": MAX_FEEDBACK_CHARS,
    }


def _plan_context(plan: PlanOut, dag: DagOut, trace_error: str | None) -> dict[str, Any]:
    elapsed = None
    if plan.started_at is not None:
        elapsed = ((plan.finished_at or utcnow()) - plan.started_at).total_seconds()
    return {
        "plan": plan,
        "elapsed_s": elapsed,
        "usage": plan.model_dump(mode="json")["llm_usage"],
        "advice": advice(plan.status, plan.error.code if plan.error else None, trace_error)
        if plan.status in ("failed", "cancelled")
        else None,
        "failed_error": trace_error,
        "dag": dag,
    }


def _failed_task_error(plan: PlanOut, dag: DagOut) -> str | None:
    if plan.error is None or not plan.error.failed_task:
        return None
    task = next((t for t in dag.tasks if t.name == plan.error.failed_task), None)
    if task is None:
        return None
    return task.error or next((r.error for r in reversed(task.runs) if r.error), None)


@router.get("/plans/{plan_id}/view", response_class=HTMLResponse)
async def plan_page(plan_id: str, state: State, task: str | None = None) -> Response:
    """A plan: status, ETA, the live DAG and timeline, its tasks, files, report and event log."""
    try:
        plan = await plan_actions.get_plan(state, plan_id)
        dag = await plan_views.dag_out(state, plan_id)
        files = await _files_context(state, plan_id)
        panel = await _task_context(state, plan, task) if task else None
    except ApiError as exc:
        return _error_page(state, exc)
    structure = plan_eta.dag_of(state, plan)
    return page(
        "plan.html",
        **files,
        layout=layout(structure),
        node_states={t.name: t.state.value for t in dag.tasks},
        dag_svg=dag_svg,
        panel=panel,
        **_plan_context(plan, dag, _failed_task_error(plan, dag)),
        **_common(state),
    )


@router.get("/plans/{plan_id}/view/tasks/{task}", response_class=HTMLResponse)
async def task_fragment(plan_id: str, task: str, state: State) -> Response:
    """The task panel: state, runs, LLM calls, place in the DAG, output (the view of ``/tasks/{task}``)."""
    plan = await plan_actions.get_plan(state, plan_id)
    return _fragment("_task_panel.html", **await _task_context(state, plan, task))


@router.get("/plans/{plan_id}/view/{part}", response_class=HTMLResponse)
async def plan_fragment(plan_id: str, part: str, state: State) -> Response:
    """One refreshable part of the plan page."""
    if part not in PARTS:
        raise NotFound(f"the plan page has no part {part!r}; parts: {', '.join(PARTS)}", code="not_found")
    plan = await plan_actions.get_plan(state, plan_id)
    if part == "files":
        return _fragment("_files.html", plan=plan, **await _files_context(state, plan_id))
    dag = await plan_views.dag_out(state, plan_id)
    return _fragment(f"_{part}.html", **_plan_context(plan, dag, _failed_task_error(plan, dag)))
