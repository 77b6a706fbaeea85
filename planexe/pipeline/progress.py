"""Fold ``events.jsonl`` into progress: done/total tasks, tasks running, LLM usage.

Used by ``planexe run``'s progress bar and by the service's supervisor, so
both tell the same story from the same file.
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
    llm_calls: int = 0
    llm_failed_attempts: int = 0
    llm_calls_reused: int = 0  # answers served from call checkpoints (not in llm_calls: nothing was paid)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finished: dict[str, Any] | None = None  # the run_finished event, once seen

    @property
    def percent(self) -> float:
        return round(100.0 * len(self.done) / self.total, 1) if self.total else 0.0

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
        elif kind == "llm_call":
            if event.get("cached"):
                self.llm_calls_reused += 1
            elif event.get("outcome") == "ok":
                self.llm_calls += 1
            else:
                self.llm_failed_attempts += 1
            self.prompt_tokens += int(event.get("prompt_tokens") or 0)
            self.completion_tokens += int(event.get("completion_tokens") or 0)
        elif kind == "run_finished":
            self.running.clear()
            self.finished = event
