"""/plans/{id}/dag and /plans/{id}/tasks/{task}: the plan's DAG with task states, and one task."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from planexe_api.dag_schemas import DagOut, TaskDetailOut
from planexe_api.services import plan_views
from planexe_api.state import AppState, get_state

router = APIRouter(prefix="/plans", tags=["plans"])
State = Annotated[AppState, Depends(get_state)]


@router.get("/{plan_id}/dag", response_model=DagOut)
async def get_dag(plan_id: str, state: State) -> DagOut:
    """The plan's tasks in dependency order with their state, runs and errors, and the critical path.

    The structure depends only on the plan's detail; the states come from its
    event log up to ``last_event_id``, so a client can draw this once and move
    the states on from the event stream (``/plans/{id}/events?after=last_event_id``).
    """
    return await plan_views.dag_out(state, plan_id)


@router.get("/{plan_id}/tasks/{task}", response_model=TaskDetailOut)
async def get_task(plan_id: str, task: str, state: State) -> TaskDetailOut:
    """One task: its state, each run, its LLM calls (model, duration, tokens, attempt, error),
    its place in the DAG and the URL of its output."""
    return await plan_views.task_out(state, plan_id, task)
