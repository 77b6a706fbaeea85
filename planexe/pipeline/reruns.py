"""Reruns: tasks a person asked to regenerate, with their feedback, as ``plan.json`` says.

The service writes ``reruns`` into plan.json::

    {"generation": 2, "tasks": {"cost_estimates": {"generation": 2, "feedback": "fit 300k EUR"}, ...}}

Each rerun numbers itself (``generation``) and gives that number to every task
it invalidated (those asked for and all their descendants). A task's output
records the generation it was made for (its envelope's ``rerun``); an output
older than its task's generation is superseded, however it got into the run
directory (left there by the run before the rerun, or by a machine that ran
the plan earlier), and is moved aside before the DAG is scheduled, so the task
runs again. Its call checkpoints of older generations go too: their keys can
no longer match, and nothing should ship them again. Feedback is added to
every prompt of the task and recorded in its output.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planexe.errors import PipelineError
from planexe.pipeline.calls import CallBook

SUPERSEDED_DIR = "superseded"  # superseded/<generation>/<output name>: what a rerun replaced
MAX_FEEDBACK_CHARS = 4000

FEEDBACK_HEADING = "# Feedback on the earlier version of this part of the plan"
FEEDBACK_INSTRUCTION = "Revise your answer so that it takes this feedback into account."


@dataclass(frozen=True)
class TaskRerun:
    generation: int  # the rerun that invalidated the task
    feedback: str | None = None


def read_reruns(data: Any) -> dict[str, TaskRerun]:
    """The ``reruns`` object of plan.json, by task; empty when the plan was never rerun."""
    if data is None:
        return {}
    tasks = data.get("tasks") if isinstance(data, dict) else None
    if not isinstance(tasks, dict):
        raise PipelineError("plan.json reruns must be an object with a 'tasks' object")
    found: dict[str, TaskRerun] = {}
    for name, entry in tasks.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("generation"), int):
            raise PipelineError(f"plan.json reruns.tasks.{name} needs an integer generation")
        feedback = entry.get("feedback")
        if feedback is not None and (not isinstance(feedback, str) or len(feedback) > MAX_FEEDBACK_CHARS):
            raise PipelineError(
                f"plan.json reruns.tasks.{name}.feedback must be text of at most {MAX_FEEDBACK_CHARS}"
            )
        found[str(name)] = TaskRerun(entry["generation"], feedback or None)
    return found


def with_feedback(user: str, feedback: str | None) -> str:
    """The user message with the rerun's feedback after it (the model reads it last)."""
    if not feedback:
        return user
    return f"{user}\n\n{FEEDBACK_HEADING}\n{feedback}\n\n{FEEDBACK_INSTRUCTION}"


def output_generation(path: Path) -> int | None:
    """The rerun generation an output envelope was made for (0: never rerun); None if there is no output."""
    try:
        envelope = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except ValueError:
        return 0  # unreadable: older than anything a rerun asks for
    rerun = envelope.get("rerun") if isinstance(envelope, dict) else None
    return int(rerun.get("generation") or 0) if isinstance(rerun, dict) else 0


def supersede_stale(
    run_dir: Path, outputs: Mapping[str, Iterable[str]], reruns: Mapping[str, TaskRerun]
) -> list[str]:
    """Move aside the outputs of every rerun task made before its generation, and drop its older
    call checkpoints; returns the tasks whose outputs were moved.

    ``outputs`` maps each task to its files, the JSON envelope first (``PlanTask.output_files``).
    """
    moved: list[str] = []
    book = CallBook(run_dir)
    for task, rerun in reruns.items():
        files = list(outputs.get(task, ()))
        if not files:
            continue  # not a task of this DAG (a plan made by an older release, say)
        book.prune(task, rerun.generation)
        made_for = output_generation(run_dir / files[0])
        if made_for is None or made_for >= rerun.generation:
            continue
        target = run_dir / SUPERSEDED_DIR / str(made_for)
        target.mkdir(parents=True, exist_ok=True)
        # The envelope last: a crash in between leaves it, so the next run still sees an old
        # output and finishes the move.
        for name in reversed(files):
            source = run_dir / name
            if source.exists():
                destination = target / name
                destination.parent.mkdir(parents=True, exist_ok=True)
                os.replace(source, destination)
        moved.append(task)
    return moved
