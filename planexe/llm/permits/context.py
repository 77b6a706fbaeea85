"""What the running step tells the executor about its calls, through context variables.

A step's thread (or process) sets them once around its work; every call it makes,
the calls of its batches included, inherits them.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable

# Rounds this step may be late without delaying the plan: 0 on the critical path.
step_slack: contextvars.ContextVar[int] = contextvars.ContextVar("planexe_llm_step_slack", default=0)
# Called with the seconds a call waited for its permit: a step's timeout does not count them.
on_permit_wait: contextvars.ContextVar[Callable[[float], None] | None] = contextvars.ContextVar(
    "planexe_llm_on_permit_wait", default=None
)
