"""A plan's DAG with task states, and one task, as the API and the dashboard show them.

Read from the database only (the plan row and its event log), so any
replica answers for any plan.
"""

from __future__ import annotations

from planexe_api.dag_schemas import DagOut, TaskDetailOut
from planexe_api.db import repo_plans
from planexe_api.db.models import Plan
from planexe_api.errors import NotFound
from planexe_api.services.plan_actions import check_plan_id, plan_not_found
from planexe_api.services.plan_eta import dag_of, trace_of
from planexe_api.state import AppState


async def _plan_row(state: AppState, plan_id: str) -> Plan:
    check_plan_id(plan_id)
    plan = await state.store.read_small(lambda s: repo_plans.get_plan(s, plan_id))
    if plan is None:
        raise plan_not_found(plan_id)
    return plan


async def dag_out(state: AppState, plan_id: str) -> DagOut:
    plan = await _plan_row(state, plan_id)
    trace = await trace_of(state, plan_id, plan.last_event_seq)
    return DagOut.of(plan_id, plan.status, dag_of(state, plan), trace)


async def task_out(state: AppState, plan_id: str, task_name: str) -> TaskDetailOut:
    plan = await _plan_row(state, plan_id)
    dag = dag_of(state, plan)
    task = dag.by_name.get(task_name)
    if task is None:
        raise NotFound(
            f"plan {plan_id} has no task {task_name!r}; its tasks are listed at /plans/{plan_id}/dag",
            code="task_not_found",
        )
    trace = await trace_of(state, plan_id, plan.last_event_seq)
    return TaskDetailOut.detail_of(plan_id, plan.status, task, trace)
