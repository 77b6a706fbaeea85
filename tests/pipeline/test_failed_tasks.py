"""The failed task a run reports is the one its message is about."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from planexe.pipeline.events import EventWriter
from planexe.pipeline.runner import _failed_tasks


def test_the_task_whose_failure_stopped_the_run_is_named_first_and_in_the_message(tmp_path: Path) -> None:
    events = EventWriter(tmp_path / "events.jsonl", attempt=2)
    EventWriter(events.path, attempt=1).emit("task_failed", task="audit", error="from an earlier run")
    events.emit("task_started", task="wbs_level3")
    events.emit("task_failed", task="wbs_level3", error="BatchError: too many requests")
    events.emit("task_started", task="cost_estimates")
    events.emit("task_started", task="swot")
    events.emit("task_failed", task="swot", error="first try")
    events.emit("task_succeeded", task="swot")
    events.emit("task_timed_out", task="cost_estimates", error="timed out")
    # The last to fail first, not alphabetical, and the message about that same task; a task
    # that recovered is not failed. (The status once named cost_estimates while its message
    # named wbs_level3.)
    events.emit("task_failed", task="audit", error="boom")
    failed, message = _failed_tasks(SimpleNamespace(events=events))  # type: ignore[arg-type]
    assert failed == ["audit", "cost_estimates", "wbs_level3"]
    assert message == "audit: boom"
