"""Fold ``events.jsonl`` into progress: done/total tasks, tasks running, tasks failed.

Used by ``planexe run``'s progress bar and by the service's ``PlanSync``, so
both tell the same story from the same file. LLM usage is not counted here:
the service counts it from the ``llm_call`` events it ships (``plan_sync.py``),
once, in the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Progress:
    total: int = 0
    done: set[str] = field(default_factory=set)
    running: dict[str, float] = field(default_factory=dict)  # task -> start time
    failed: dict[str, str] = field(default_factory=dict)  # task -> error
    finished: dict[str, Any] | None = None  # the run_finished event, once seen

    def apply(self, event: dict[str, Any]) -> None:
        kind = event.get("kind")
        task = str(event.get("task", ""))
        if kind == "run_started":
            self.total = int(event.get("total") or 0)
            self.done = set(event.get("done_tasks") or [])
            self.running.clear()
            self.failed.clear()
            self.finished = None
        elif kind == "task_started":
            self.running[task] = float(event.get("ts") or 0)
            self.failed.pop(task, None)
        elif kind == "task_succeeded":
            self.running.pop(task, None)
            self.done.add(task)
        elif kind in ("task_failed", "task_timed_out"):
            self.running.pop(task, None)
            self.failed[task] = str(event.get("error", ""))
        elif kind == "run_finished":
            self.running.clear()
            self.finished = event
