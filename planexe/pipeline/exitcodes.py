"""Exit codes of ``python -m planexe.plan``.

Luigi's own command line exits 0 when a task fails, so the pipeline maps the
run's ``LuigiRunResult.status`` to these codes itself; the supervisor relies on
them to decide the plan's final state.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    SUCCESS = 0  # every task done, report written
    TASK_FAILED = 1  # a task failed after its retries
    SCHEDULING_FAILED = 2  # Luigi could not schedule the DAG (bad task, scheduler unreachable)
    CONFIG_ERROR = 3  # plan.json or the LLM configuration cannot be used
    LOCKED = 4  # another process holds the run directory
    INTERRUPTED = 5  # stopped by SIGTERM/SIGINT; the next run resumes
    BUDGET_EXCEEDED = 6  # the plan spent its budget (max_cost / max_tokens); resumable with a higher one
    REFUSED = 7  # the safety gate declined the request; its report says why. Final: not a failure

    @property
    def reason(self) -> str:
        return _REASONS[self]


_REASONS = {
    ExitCode.SUCCESS: "completed",
    ExitCode.TASK_FAILED: "a task failed",
    ExitCode.SCHEDULING_FAILED: "the DAG could not be scheduled",
    ExitCode.CONFIG_ERROR: "the plan or LLM configuration is invalid",
    ExitCode.LOCKED: "another process is running this plan",
    ExitCode.INTERRUPTED: "interrupted",
    ExitCode.BUDGET_EXCEEDED: "the plan's budget is spent",
    ExitCode.REFUSED: "the request was refused by the safety gate",
}
