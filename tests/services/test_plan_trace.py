"""Folding a plan's events into task states and runs, across restarts and resumes."""

from __future__ import annotations

from planexe_api.services.plan_trace import PlanTrace, SpanOutcome, TaskState


def _fold(*events: tuple[str, dict]) -> PlanTrace:
    trace = PlanTrace()
    for seq, (kind, data) in enumerate(events, start=1):
        trace.apply(seq, kind, data)
    return trace


def test_a_killed_run_closes_its_bars_and_the_next_run_reuses_finished_tasks() -> None:
    trace = _fold(
        ("run_started", {"done_tasks": [], "ts": 1.0, "attempt": 1}),
        ("task_started", {"task": "a", "ts": 1.0, "attempt": 1}),
        ("task_succeeded", {"task": "a", "ts": 2.0}),
        ("task_started", {"task": "b", "ts": 2.0, "attempt": 1}),
        # the service was killed: no word about b until the next run starts
        ("run_started", {"done_tasks": ["a"], "ts": 9.0, "attempt": 2}),
        ("task_started", {"task": "b", "ts": 9.5, "attempt": 2}),
    )
    b = trace.tasks["b"]
    assert [s.outcome for s in b.spans] == [SpanOutcome.INTERRUPTED, None]
    assert b.spans[0].end == 9.0 and b.state is TaskState.RUNNING
    assert trace.tasks["a"].state is TaskState.DONE and not trace.tasks["a"].reused
    assert trace.runs == [1.0, 9.0]


def test_a_resumed_plan_marks_earlier_work_reused_and_unfinished_work_skipped_when_it_fails() -> None:
    trace = _fold(
        ("run_started", {"done_tasks": ["a"], "ts": 1.0, "attempt": 1}),
        ("task_started", {"task": "b", "ts": 1.0}),
        ("task_timed_out", {"task": "b", "error": "timed out after 160 s", "ts": 161.0}),
        ("task_failed", {"task": "b", "error": "timed out after 160 s", "ts": 161.5}),
    )
    assert trace.tasks["a"].reused and trace.tasks["a"].state is TaskState.DONE
    b = trace.tasks["b"]
    assert len(b.spans) == 1 and b.spans[0].outcome is SpanOutcome.TIMED_OUT
    assert trace.state_of("b", "failed") is TaskState.FAILED
    assert trace.state_of("c", "failed") is TaskState.SKIPPED
    assert trace.state_of("c", "running") is TaskState.QUEUED


def test_events_already_applied_are_ignored() -> None:
    trace = _fold(("task_started", {"task": "a", "ts": 1.0}))
    trace.apply(1, "task_succeeded", {"task": "a", "ts": 2.0})
    assert trace.tasks["a"].state is TaskState.RUNNING and trace.last_seq == 1
