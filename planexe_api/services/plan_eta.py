"""A plan's ETA for its JSON: its DAG and folded event log, put through ``eta.estimate``.

Read from the database only (the plan row and its events), so any replica
answers for any plan; the fold is cached per plan (``AppState.traces``), so a
status read on a running plan costs the few events since the last one.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from planexe_api.db.models import Plan, PlanStatus
from planexe_api.schemas import EtaOut, PlanOut
from planexe_api.services import eta
from planexe_api.services.plan_dag import PlanDag, dag_for
from planexe_api.services.plan_trace import PlanTrace
from planexe_api.state import AppState


def dag_of(state: AppState, plan: PlanOut | Plan) -> PlanDag:
    return dag_for(state.settings, state.llm_config, plan.detail, plan.llm_model)


async def trace_of(state: AppState, plan_id: str, last_event_id: int) -> PlanTrace:
    return await state.traces.get(state.store, plan_id, last_event_id)


def eta_out(dag: PlanDag, trace: PlanTrace, status: str, now: float | None = None) -> EtaOut | None:
    now = time.time() if now is None else now
    found = eta.estimate(dag, trace, status, now)
    if found is None:
        return None
    finishes = (
        datetime.fromtimestamp(now, UTC) + timedelta(seconds=found.remaining_s)
        if found.remaining_s is not None
        else None
    )
    return EtaOut(
        remaining_s=found.remaining_s,
        low_s=found.low_s,
        high_s=found.high_s,
        finishes_at=finishes,
        remaining_rounds=found.remaining_rounds,
        seconds_per_call=found.seconds_per_call,
        calls_observed=found.calls_observed,
        basis=found.basis,
    )


async def with_eta(state: AppState, out: PlanOut) -> PlanOut:
    """``out`` with its ETA filled in, for a plan that has not ended."""
    if PlanStatus(out.status).is_terminal:
        return out
    trace = await trace_of(state, out.id, out.last_event_id)
    out.eta = eta_out(dag_of(state, out), trace, out.status)
    return out
