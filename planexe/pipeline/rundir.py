"""The run directory is the checkpoint.

``runs/<plan_id>/`` holds ``plan.json`` (what to plan), one output file per
task, ``events.jsonl`` (progress channel), ``log.txt`` and ``.lock``. A task is
done exactly when its output exists, and outputs appear atomically (written to
a temporary name, fsynced, renamed), so a killed run never leaves a
half-written output that a resumed run would trust.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from planexe.errors import PipelineError

PLAN_FILE = "plan.json"
EVENTS_FILE = "events.jsonl"
LOG_FILE = "log.txt"
LOCK_FILE = ".lock"
REPORT_FILE = "report.html"
MAX_PROMPT_CHARS = 8000

Detail = Literal["full", "fast"]


def clean_prompt(text: str) -> str:
    """The one rule for a prompt, for the API (422 ``prompt: ...``), MCP and ``planexe run``:
    stripped, not empty, at most MAX_PROMPT_CHARS. ValueError says what is wrong."""
    prompt = text.strip()
    if not prompt:
        raise ValueError("must not be empty: describe the project in a sentence or a paragraph")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise ValueError(f"is {len(prompt)} characters; shorten it to at most {MAX_PROMPT_CHARS}")
    return prompt


@dataclass(frozen=True)
class PlanSpec:
    """What to plan: the contents of ``plan.json``."""

    prompt: str
    detail: Detail = "full"
    llm_model: str | None = None
    plan_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlanSpec:
        try:
            prompt = clean_prompt(str(data.get("prompt") or ""))
        except ValueError as exc:
            raise PipelineError(f"prompt {exc}") from None
        detail = data.get("detail", "full")
        if detail not in ("full", "fast"):
            raise PipelineError(f"plan.json detail must be 'full' or 'fast', not {detail!r}")
        known = {"prompt", "detail", "llm_model", "plan_id"}
        return cls(
            prompt=prompt,
            detail=detail,
            llm_model=data.get("llm_model") or None,
            plan_id=str(data.get("plan_id") or ""),
            extra={k: v for k, v in data.items() if k not in known},
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        extra = data.pop("extra")
        return {**extra, **data}


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates 0600; outputs are ordinary files others may read.
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def file_sha256(path: Path) -> str | None:
    """Hex sha256 of the file's bytes, or None if there is no such file."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except (FileNotFoundError, IsADirectoryError):
        return None


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_plan(run_dir: Path, spec: PlanSpec) -> Path:
    path = run_dir / PLAN_FILE
    atomic_write_text(path, json.dumps(spec.to_dict(), ensure_ascii=False, indent=2))
    return path


def read_plan(run_dir: Path) -> PlanSpec:
    path = run_dir / PLAN_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise PipelineError(f"{path} does not exist: write the plan first (planexe run does)") from exc
    except json.JSONDecodeError as exc:
        raise PipelineError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise PipelineError(f"{path} must hold a JSON object")
    return PlanSpec.from_dict(data)


def clean_stale_temp_files(run_dir: Path) -> int:
    """Remove temporary files a killed run left behind; returns how many."""
    removed = 0
    for tmp in run_dir.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)
        removed += 1
    return removed
