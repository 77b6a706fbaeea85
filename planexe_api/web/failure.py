"""What a failed or cancelled plan's page says about it: which task, why, and whether resume helps.

Resume reruns the failed task and everything after it and keeps every finished
task, so it helps exactly when the cause has passed or was fixed in between.
The advice depends on the failure code (docs/api.md lists them) and, for a
failed task, on whether its error looks passing (a timeout, a rate limit, a
server error) or like the model's answers (invalid output).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ResumeHelps(StrEnum):
    YES = "yes"  # the cause has passed by itself
    LIKELY = "likely"  # the cause looks passing
    AFTER_FIX = "after_fix"  # only once something is changed
    UNSURE = "unsure"


@dataclass(frozen=True)
class Advice:
    helps: ResumeHelps
    text: str


_PASSING = ("timeout", "timed out", "429", "rate limit", "500", "502", "503", "504", "connect", "unavailable")
_ANSWERS = ("invalid", "validation", "json", "schema", "truncated", "refus")


def advice(status: str, code: str | None, task_error: str | None) -> Advice:
    if status == "cancelled":
        return Advice(
            ResumeHelps.YES, "It was cancelled on request. Resume continues from the finished tasks."
        )
    error = (task_error or "").lower()
    if code == "task_failed":
        if any(word in error for word in _PASSING):
            return Advice(
                ResumeHelps.LIKELY,
                "The error looks passing (a timeout, a rate limit or a server error). Resume reruns this "
                "task and what follows it, and keeps every finished task.",
            )
        if any(word in error for word in _ANSWERS):
            return Advice(
                ResumeHelps.AFTER_FIX,
                "The model's answers did not fit the step's schema. Resume reruns the task, which may fail "
                "the same way with the same model: try a stronger model (see docs/llm-providers.md).",
            )
        return Advice(
            ResumeHelps.UNSURE, "Resume reruns this task and what follows it; every finished task is kept."
        )
    fixed: dict[str, Advice] = {
        "timeout": Advice(
            ResumeHelps.YES, "The plan ran past PLANEXE_PLAN_TIMEOUT_S. Resume continues where it stopped."
        ),
        "max_attempts": Advice(
            ResumeHelps.LIKELY,
            "Its runs kept being interrupted (the service or machine restarting). Resume starts the count again.",
        ),
        "recovery_too_old": Advice(
            ResumeHelps.YES, "It was interrupted too long ago to be resumed automatically; resume it by hand."
        ),
        "config_error": Advice(
            ResumeHelps.AFTER_FIX,
            "Fix the configuration named in the message, restart the service, then resume.",
        ),
        "locked": Advice(
            ResumeHelps.LIKELY,
            "Another pipeline process held its run directory. Resume once that one has ended.",
        ),
        "report_missing": Advice(ResumeHelps.LIKELY, "Resume reruns the report step."),
    }
    return fixed.get(
        code or "",
        Advice(ResumeHelps.UNSURE, "Resume reruns what is not finished; see the server log for the cause."),
    )
