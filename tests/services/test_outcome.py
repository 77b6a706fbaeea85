"""Every row of the outcome table: how a run's end becomes the plan's next state."""

from __future__ import annotations

import signal

import pytest

from planexe.pipeline.exitcodes import ExitCode
from planexe_api.db.models import PlanStatus
from planexe_api.services.outcome import Action, RunEnd, decide
from planexe_api.services.supervisor import StopReason


def end(
    reason: StopReason = StopReason.EXITED,
    code: int | None = 0,
    *,
    held: bool = True,
    attempt: int = 1,
    **kwargs: object,
) -> RunEnd:
    return RunEnd(
        stop_reason=reason,
        returncode=code,
        lease_held=held,
        attempt=attempt,
        max_attempts=3,
        plan_timeout_s=7200,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("reason", list(StopReason))
def test_a_lost_lease_writes_nothing_whatever_happened(reason: StopReason) -> None:
    assert decide(end(reason, 0, held=False)).action is Action.ABANDON
    assert decide(end(StopReason.LEASE_LOST, 0)).action is Action.ABANDON


def test_stops_asked_for() -> None:
    assert decide(end(StopReason.SHUTDOWN, -15, attempt=3)).action is Action.REQUEUE
    cancelled = decide(end(StopReason.CANCELLED, -15))
    assert (cancelled.status, cancelled.code) == (PlanStatus.CANCELLED, "cancelled")
    timeout = decide(end(StopReason.TIMEOUT, -9))
    assert (timeout.status, timeout.code) == (PlanStatus.FAILED, "timeout")
    assert "PLANEXE_PLAN_TIMEOUT_S=7200s" in (timeout.message or "")


def test_success_completes_only_with_every_output_stored() -> None:
    done = decide(end(code=ExitCode.SUCCESS))
    assert (done.action, done.status) == (Action.FINISH, PlanStatus.COMPLETED)
    missing = decide(end(code=ExitCode.SUCCESS, missing_outputs=["report.html"]))
    assert missing.action is Action.REQUEUE and "report.html" in (missing.message or "")
    last = decide(end(code=ExitCode.SUCCESS, attempt=3, missing_outputs=["report.html"]))
    assert (last.status, last.code) == (PlanStatus.FAILED, "outputs_missing")


@pytest.mark.parametrize(
    ("code", "cause"),
    [
        (-signal.SIGKILL, "killed by SIGKILL"),
        (-signal.SIGTERM, "killed by SIGTERM"),
        (ExitCode.INTERRUPTED, "stopped by a signal"),
        (ExitCode.LOCKED, "another process held the run directory"),
    ],
)
def test_an_interrupted_run_is_retried_then_fails_as_max_attempts(code: int, cause: str) -> None:
    for attempt in (1, 2):
        retried = decide(end(code=code, attempt=attempt))
        assert retried.action is Action.REQUEUE and cause in (retried.message or "")
    last = decide(end(code=code, attempt=3))
    assert (last.status, last.code) == (PlanStatus.FAILED, "max_attempts")
    assert cause in (last.message or "") and "attempt 3 of 3" in (last.message or "")


def test_a_failed_task_names_the_task_that_stopped_the_run() -> None:
    finished = {"reason": "task failed: wbs_level3: boom", "failed_tasks": ["wbs_level3", "cost_estimates"]}
    failed = decide(end(code=ExitCode.TASK_FAILED, run_finished=finished, failed_tasks=["other"]))
    assert (failed.status, failed.code, failed.failed_task) == (
        PlanStatus.FAILED,
        "task_failed",
        "wbs_level3",
    )
    assert failed.message == "task failed: wbs_level3: boom"
    without_summary = decide(end(code=ExitCode.TASK_FAILED, failed_tasks=["purpose"]))
    assert without_summary.failed_task == "purpose"


@pytest.mark.parametrize(
    ("code", "error_code"),
    [
        (ExitCode.SCHEDULING_FAILED, "scheduling_failed"),
        (ExitCode.CONFIG_ERROR, "config_error"),
        (77, "pipeline_error"),
    ],
)
def test_other_exits_fail_with_their_own_code(code: int, error_code: str) -> None:
    failed = decide(end(code=code))
    assert (failed.status, failed.code) == (PlanStatus.FAILED, error_code)


@pytest.mark.parametrize("attempt", [1, 3])
def test_a_refusal_is_final_and_not_a_failure(attempt: int) -> None:
    reason = "PlanExe will not plan this. Reason: it plans an attack (category: violence)"
    refused = decide(
        end(
            code=ExitCode.REFUSED,
            attempt=attempt,
            run_finished={"status": "refused", "reason": reason},
            # The plan's own outputs were never made: that is no reason to run it again.
            missing_outputs=["report.json", "identify_purpose.json"],
        )
    )
    assert (refused.action, refused.status, refused.code) == (Action.FINISH, PlanStatus.REFUSED, "refused")
    assert refused.message == reason and refused.failed_task is None
