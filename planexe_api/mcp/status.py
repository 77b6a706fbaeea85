"""A plan's status as an agent reads it: absolute links, a diagnosis, the next step."""

from __future__ import annotations

from typing import Any, NamedTuple

from planexe_api.mcp.outputs import Diagnosis, PlanStatusOut
from planexe_api.schemas import PlanOut


class _Remedy(NamedTuple):
    recoverable: bool  # plan_resume is likely to finish the plan without changing anything
    remedy: str


_RESUME = "plan_resume re-runs what is missing and keeps every finished task"
# By the plan's error code, as the "resume?" column of docs/api.md's failure codes has it.
# A code not listed here (pipeline_error, internal_error: "maybe") counts as recoverable:
# resuming costs little, as finished tasks are reused.
_REMEDIES: dict[str, _Remedy] = {
    "task_failed": _Remedy(
        True,
        f"{_RESUME}; a provider error (HTTP 429/500, a timeout, invalid JSON) often passes. If the "
        "same task fails again, use plan_retry with another llm_model, or ask the operator to check "
        "the service's LLM configuration.",
    ),
    "timeout": _Remedy(True, f"The plan ran past PLANEXE_PLAN_TIMEOUT_S; {_RESUME}."),
    "max_attempts": _Remedy(
        True,
        f"The plan's runner stopped too often (crashes or restarts); {_RESUME}. If it keeps "
        "happening, the service's logs say why.",
    ),
    "recovery_too_old": _Remedy(
        True, f"The plan was interrupted too long ago to resume by itself; {_RESUME}."
    ),
    "outputs_missing": _Remedy(True, f"Outputs of the plan were not stored; {_RESUME}."),
    "scheduling_failed": _Remedy(
        True,
        f"The pipeline could not be scheduled (a central scheduler unreachable, say); {_RESUME} once "
        "it is back. If it keeps failing, report it to the service's operator.",
    ),
    "config_error": _Remedy(
        False,
        "The plan or the service's LLM configuration cannot be used: the operator must fix the "
        "configuration first (see the message); then plan_resume.",
    ),
}
_CANCELLED = _Remedy(True, "Stopped on request: plan_resume continues it, plan_retry starts a fresh copy.")
_REFUSED = _Remedy(
    False,
    "The safety gate declined this request, so no plan was made; plan_resume and plan_retry answer "
    "with an error, as the same request would be refused again. plan_report gives the refusal and its "
    "reason. Tell the user why; if the project is lawful, plan_create with a description that makes "
    "its purpose clear.",
)


def diagnose(plan: PlanOut) -> Diagnosis | None:
    if plan.status not in ("failed", "cancelled", "refused"):
        return None
    error = plan.error
    code = error.code if error else None
    if plan.status == "refused":
        remedy = _REFUSED
    elif plan.status == "cancelled":
        remedy = _CANCELLED
    else:
        remedy = _REMEDIES.get(code or "", _Remedy(True, f"{_RESUME}; if it fails again, plan_retry."))
    return Diagnosis(
        failed_task=error.failed_task if error else None,
        reason=(error.message if error and error.message else None) or f"the plan was {plan.status}",
        recoverable=remedy.recoverable,
        remedy=remedy.remedy,
    )


def next_step(plan: PlanOut, diagnosis: Diagnosis | None) -> str:
    progress = plan.progress
    if plan.status == "queued":
        return "Waiting for a free runner: call plan_wait (or plan_status now and then) until it runs."
    if plan.status == "running":
        if plan.cancel_requested:
            return "Stopping: call plan_wait until the status is cancelled."
        so_far = f"{progress.done}/{progress.total} tasks done" if progress.total else "starting"
        return (
            f"Running, {so_far}: call plan_wait to block until it finishes (or plan_status to poll); "
            "a plan takes minutes."
        )
    if plan.status == "completed":
        return "Done: read it with plan_report (Markdown or text), or list every output with plan_files."
    assert diagnosis is not None
    return diagnosis.remedy


def absolute_links(links: dict[str, str], base_url: str) -> dict[str, str]:
    return {name: base_url + path if path.startswith("/") else path for name, path in links.items()}


def status_of(plan: PlanOut, base_url: str, **extra: Any) -> dict[str, Any]:
    """The fields of a PlanStatusOut (or of a subclass, with ``extra``)."""
    diagnosis = diagnose(plan)
    fields = plan.model_dump()
    fields["links"] = absolute_links(plan.links, base_url)
    return {**fields, "diagnosis": diagnosis, "next_step": next_step(plan, diagnosis), **extra}


def plan_status(plan: PlanOut, base_url: str) -> PlanStatusOut:
    return PlanStatusOut(**status_of(plan, base_url))
