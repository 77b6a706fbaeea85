"""How a run ends: from the child's exit, the stop reason and the lease to the plan's next state.

A pure function of what the runner knows when the child is gone, so every row
of the table is tested in milliseconds (tests/services/test_outcome.py):

| lease | stop reason | exit code             | decision                                    |
|-------|-------------|-----------------------|---------------------------------------------|
| lost  | any         | any                   | abandon: the new owner decides               |
| held  | shutdown    | any                   | requeue                                      |
| held  | cancelled   | any                   | cancelled                                    |
| held  | timeout     | any                   | failed ``timeout``                           |
| held  | exited      | 0, outputs all stored | completed                                    |
| held  | exited      | 0, outputs missing    | requeue, or failed ``outputs_missing``       |
| held  | exited      | 7                     | refused: the safety gate declined; final     |
| held  | exited      | killed / 5 / 4        | requeue, or failed ``max_attempts``          |
| held  | exited      | 1, 2, 3               | failed ``task_failed`` / ``scheduling_failed`` / ``config_error`` |
| held  | exited      | anything else         | failed ``pipeline_error``                    |

"Requeue, or failed" follows the attempt limit (``planexe_api/policy.py``).
"""

from __future__ import annotations

import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from planexe.pipeline.exitcodes import ExitCode
from planexe_api import policy
from planexe_api.db.models import PlanStatus
from planexe_api.services.supervisor import StopReason

REFUSED_CODE = "refused"  # error_code of a refused plan: its message is the refusal and its reason


class Action(StrEnum):
    ABANDON = "abandon"  # the plan is no longer ours: write nothing, the new owner decides
    REQUEUE = "requeue"  # back to the queue; the next run resumes from the finished tasks
    FINISH = "finish"  # a final status: completed, failed, cancelled or refused


@dataclass(frozen=True)
class RunEnd:
    """What the runner knows once its child is gone and the last events are shipped."""

    stop_reason: StopReason
    returncode: int | None
    lease_held: bool
    attempt: int
    max_attempts: int
    plan_timeout_s: float = 0.0
    run_finished: Mapping[str, Any] | None = None  # the child's run_finished event, if it wrote one
    failed_tasks: Sequence[str] = ()  # tasks whose last event failed (progress), newest first
    missing_outputs: Sequence[str] = field(default_factory=tuple)  # outputs the database lacks


@dataclass(frozen=True)
class Decision:
    action: Action
    status: PlanStatus | None = None
    code: str | None = None
    message: str | None = None
    failed_task: str | None = None

    @classmethod
    def requeue(cls, reason: str) -> Decision:
        return cls(Action.REQUEUE, message=reason)

    @classmethod
    def failed(cls, code: str, message: str, failed_task: str | None = None) -> Decision:
        return cls(Action.FINISH, PlanStatus.FAILED, code, message, failed_task)


def interruption(returncode: int | None) -> str | None:
    """Why the pipeline stopped without deciding anything itself, or None if it decided."""
    if returncode is None:
        return "the pipeline did not exit"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"the pipeline was killed by {name}"
    if returncode == ExitCode.INTERRUPTED:
        return "the pipeline was stopped by a signal"
    if returncode == ExitCode.LOCKED:
        return "another process held the run directory"
    return None


def decide(end: RunEnd) -> Decision:
    if end.stop_reason is StopReason.LEASE_LOST or not end.lease_held:
        return Decision(Action.ABANDON)
    if end.stop_reason is StopReason.SHUTDOWN:
        return Decision.requeue("service shutdown")
    if end.stop_reason is StopReason.CANCELLED:
        return Decision(Action.FINISH, PlanStatus.CANCELLED, "cancelled", "cancelled on request")
    if end.stop_reason is StopReason.TIMEOUT:
        return Decision.failed(
            "timeout", f"the plan ran longer than PLANEXE_PLAN_TIMEOUT_S={end.plan_timeout_s:g}s"
        )
    if end.returncode == ExitCode.SUCCESS:
        if not end.missing_outputs:
            return Decision(Action.FINISH, PlanStatus.COMPLETED)
        missing = ", ".join(end.missing_outputs[:5])
        return _retry_or_fail(end, f"outputs not stored: {missing}", code="outputs_missing")
    if end.returncode == ExitCode.REFUSED:
        # Not a failure, and nothing to retry: the same request meets the same gate.
        finished = end.run_finished or {}
        message = str(finished.get("reason") or ExitCode.REFUSED.reason)
        return Decision(Action.FINISH, PlanStatus.REFUSED, REFUSED_CODE, message)
    cause = interruption(end.returncode)
    if cause is not None:
        return _retry_or_fail(end, cause)
    finished = end.run_finished or {}
    reason = str(finished.get("reason") or f"the pipeline exited with code {end.returncode}")
    failed_task = next(iter(finished.get("failed_tasks") or end.failed_tasks), None)
    code = ExitCode(end.returncode).name.lower() if end.returncode in set(ExitCode) else "pipeline_error"
    return Decision.failed(code, reason, failed_task)


def _retry_or_fail(end: RunEnd, cause: str, code: str = policy.MAX_ATTEMPTS_CODE) -> Decision:
    if policy.may_retry(end.attempt, end.max_attempts):
        return Decision.requeue(cause)
    return Decision.failed(code, policy.out_of_attempts_message(cause, end.attempt, end.max_attempts))
