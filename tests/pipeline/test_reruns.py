"""The pipeline's side of a rerun: plan.json's ``reruns``, superseded outputs moved aside, feedback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from planexe.errors import PipelineError
from planexe.pipeline.calls import CallBook, Checkpoint
from planexe.pipeline.reruns import (
    FEEDBACK_HEADING,
    SUPERSEDED_DIR,
    TaskRerun,
    read_reruns,
    supersede_stale,
    with_feedback,
)

OUTPUTS = {"report": ("report.json", "report.html"), "budget": ("budget.json",), "swot": ("swot.json",)}


def envelope(step: str, generation: int | None = None) -> str:
    data: dict[str, object] = {"step": step, "data": {}}
    if generation is not None:
        data["rerun"] = {"generation": generation, "feedback": None}
    return json.dumps(data)


def checkpoint(book: CallBook, task: str, generation: int, key: str) -> None:
    book.save(Checkpoint(key=key * 64, task=task, step=task, generation=generation, model="m", value={}))


def test_reruns_are_read_from_plan_json() -> None:
    assert read_reruns(None) == {}
    data = {
        "generation": 2,
        "tasks": {"budget": {"generation": 2, "feedback": "fit 300k"}, "swot": {"generation": 1}},
    }
    assert read_reruns(data) == {"budget": TaskRerun(2, "fit 300k"), "swot": TaskRerun(1, None)}
    for bad in (
        {"tasks": []},
        {"tasks": {"budget": {"feedback": "x"}}},
        {"tasks": {"b": {"generation": 1, "feedback": 3}}},
    ):
        with pytest.raises(PipelineError):
            read_reruns(bad)


def test_feedback_comes_last_in_the_message() -> None:
    assert with_feedback("the brief", None) == "the brief"
    text = with_feedback("the brief", "Make the budget fit 300k EUR.")
    assert text.startswith("the brief\n\n" + FEEDBACK_HEADING) and "Make the budget fit 300k EUR." in text


def test_outputs_older_than_their_rerun_are_moved_aside_with_their_old_calls(tmp_path: Path) -> None:
    (tmp_path / "report.json").write_text(envelope("report"))
    (tmp_path / "report.html").write_text("<html>old</html>")
    (tmp_path / "budget.json").write_text(envelope("budget", generation=2))  # made by this rerun already
    (tmp_path / "swot.json").write_text(envelope("swot"))  # not rerun: stays
    book = CallBook(tmp_path)
    checkpoint(book, "report", 0, "a")
    checkpoint(book, "report", 2, "b")
    reruns = {"report": TaskRerun(2), "budget": TaskRerun(2), "unknown_task": TaskRerun(2)}

    assert supersede_stale(tmp_path, OUTPUTS, reruns) == ["report"]
    assert not (tmp_path / "report.json").exists() and not (tmp_path / "report.html").exists()
    kept = tmp_path / SUPERSEDED_DIR / "0"
    assert (kept / "report.html").read_text() == "<html>old</html>" and (kept / "report.json").exists()
    assert (tmp_path / "budget.json").exists() and (tmp_path / "swot.json").exists()
    # Only the report's calls of the current rerun are left.
    assert [Checkpoint.from_bytes((tmp_path / n).read_bytes()).generation for n in book.names()] == [2]
    # Run again (a resumed rerun): nothing more to move.
    assert supersede_stale(tmp_path, OUTPUTS, reruns) == []
