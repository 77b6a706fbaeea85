"""The attempt limit, in one place: when an interrupted plan runs again and what it says when not.

A plan's ``attempt`` counts the runs started since a person last queued it
(created or resumed). A run may start while ``attempt <= max_attempts``; a
run that was interrupted (its runner died, its pipeline was killed, the
service shut down under it) is retried while ``attempt < max_attempts``,
and otherwise the plan fails with ``max_attempts``, however the interruption
happened. Used by the runner (its own children), recovery (other runners'
plans) and the claim (a plan requeued at shutdown on its last attempt).
"""

from __future__ import annotations

MAX_ATTEMPTS_CODE = "max_attempts"


def may_start(attempt: int, max_attempts: int) -> bool:
    """True if run number ``attempt`` (counted since the plan was last queued) may start."""
    return attempt <= max_attempts


def may_retry(attempt: int, max_attempts: int) -> bool:
    """True if a plan interrupted on run ``attempt`` goes back to the queue for another run."""
    return attempt < max_attempts


def out_of_attempts_message(cause: str, attempt: int, max_attempts: int) -> str:
    return (
        f"The run was interrupted ({cause}) on attempt {attempt} of {max_attempts} "
        "(PLANEXE_MAX_ATTEMPTS). Resume it to try again from its finished tasks."
    )
