"""plan_wait: block, up to a bound, until a plan ends (or finishes one more task).

A wait holds nothing while it waits: each look at the plan is one short read
(on the event loop on SQLite, a worker thread for a moment on PostgreSQL), and
in between the request is a coroutine parked on ``PlanSignals`` with a timeout,
so a hundred waiting agents cost a hundred small tasks, not a hundred threads
or database connections. The signal wakes the wait at once when this process
commits the plan's progress; the poll interval bounds the delay when another
replica runs the plan.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal

import anyio

from planexe_api.db.models import PlanStatus
from planexe_api.schemas import PlanOut
from planexe_api.services import plan_actions
from planexe_api.state import AppState

POLL_S = 1.0  # seconds between looks at a plan that no signal woke
Outcome = Literal["finished", "progress", "timeout"]
# progress, total, message: sent as an MCP progress notification (dropped if the client asked for none)
Report = Callable[[float, float | None, str], Awaitable[None]]


def describe(plan: PlanOut) -> str:
    p = plan.progress
    text = f"{plan.status}: {p.done}/{p.total} tasks done"
    if p.running_tasks:
        text += "; running " + ", ".join(p.running_tasks[:5]) + ("…" if len(p.running_tasks) > 5 else "")
    return text


async def wait_for_plan(
    state: AppState,
    plan_id: str,
    *,
    timeout_s: float,
    until: Literal["finished", "progress"],
    report: Report,
) -> tuple[PlanOut, Outcome, float]:
    """The plan when the wait ended, why it ended, and how long it took (seconds).

    Reports progress once at the start and then each time another task is done
    (MCP requires each notification's progress to be larger than the last).
    """
    start = anyio.current_time()
    deadline = start + timeout_s
    reported: int | None = None
    first_done: int | None = None
    while True:
        # Before the read, so a commit that lands after it still ends the wait below.
        wake = state.signals.listen(plan_id)
        plan = await plan_actions.get_plan(state, plan_id, eta=False)
        done = plan.progress.done
        if first_done is None:
            first_done = done
        if reported is None or done > reported:
            reported = done
            await report(done, plan.progress.total or None, describe(plan))
        now = anyio.current_time()
        outcome: Outcome | None = None
        if PlanStatus(plan.status).is_terminal:
            outcome = "finished"
        elif until == "progress" and done > first_done:
            outcome = "progress"
        elif now >= deadline:
            outcome = "timeout"
        if outcome is not None:
            # The answer carries the ETA, which the looks in between do without.
            return await plan_actions.get_plan(state, plan_id), outcome, now - start
        with anyio.move_on_after(min(POLL_S, deadline - now)):
            await wake.wait()
