"""Call checkpoints: every validated LLM answer is kept the moment it arrives.

A batched step makes up to 15 calls, and its output appears only once all of
them have answered; without these, a run killed halfway through the batch
paid for every call again. Each accepted answer is written atomically to
``calls/<task>/<key>.json`` before its ``llm_call`` event, so an answer the
events mention is never lost. The key is a hash of everything that determines
the answer: the step and item (``wbs_level3:2.3``), the model chain, the
messages (a rerun's feedback included), the answer's schema and the task's
rerun generation. A later run of the same plan (resumed, recovered, or on
another machine, which gets the files back from the database) is served the
answer without a call, and records it as a ``cached`` call. A task that a
rerun invalidated has a new generation, so none of its old answers match.

Offline plans keep none: their answers cost nothing and take no time.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import anyio
from pydantic import BaseModel, ValidationError

from planexe.llm.executor import LLMExecutor, schema_of
from planexe.llm.types import CallRecord
from planexe.log import get_logger
from planexe.pipeline.rundir import atomic_write_bytes

CALLS_DIR = "calls"
FORMAT = 1  # of a checkpoint file; part of the key, so a new format never reads an old file

T = TypeVar("T", bound=BaseModel)
log = get_logger(__name__)


def call_key(
    step: str,
    models: Sequence[str],
    messages: Sequence[dict[str, str]],
    schema: dict[str, Any],
    generation: int = 0,
) -> str:
    """The hex sha256 of what determines one call's answer."""
    material = {
        "format": FORMAT,
        "step": step,
        "models": list(models),
        "messages": list(messages),
        "schema": schema,
        "generation": generation,
    }
    text = json.dumps(material, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def checkpoint_name(task: str, key: str) -> str:
    """The checkpoint's path relative to the run directory ('/'-separated, as the database names it)."""
    return f"{CALLS_DIR}/{task}/{key}.json"


_NAME = re.compile(rf"{CALLS_DIR}/[a-z0-9_]+/[0-9a-f]{{64}}\.json")


def is_checkpoint_name(name: str) -> bool:
    return _NAME.fullmatch(name) is not None


def task_of(name: str) -> str:
    """The task of a checkpoint named by ``checkpoint_name``."""
    return name.split("/")[1]


@dataclass(frozen=True)
class Checkpoint:
    key: str
    task: str
    step: str
    generation: int
    model: str  # the model id that answered
    value: dict[str, Any]  # the validated answer, as JSON
    usage: dict[str, Any] = field(default_factory=dict)  # prompt_tokens, completion_tokens, cost_usd
    created_at: float = 0.0  # unix seconds

    @property
    def name(self) -> str:
        return checkpoint_name(self.task, self.key)

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Checkpoint:
        raw = json.loads(data)
        return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})


class CallBook:
    """The call checkpoints of one run directory."""

    def __init__(self, run_dir: Path) -> None:
        self.root = Path(run_dir) / CALLS_DIR

    def load(self, task: str, key: str) -> Checkpoint | None:
        try:
            found = Checkpoint.from_bytes((self.root / task / f"{key}.json").read_bytes())
        except FileNotFoundError:
            return None
        except (ValueError, TypeError, KeyError) as exc:
            # Writes are atomic, so this is a file damaged some other way: ask the model again.
            log.warning("call_checkpoint_unreadable", task=task, key=key, error=str(exc))
            return None
        return found if found.key == key else None

    def save(self, checkpoint: Checkpoint) -> str:
        atomic_write_bytes(self.root / checkpoint.task / f"{checkpoint.key}.json", checkpoint.to_bytes())
        return checkpoint.name

    def names(self) -> Iterator[str]:
        """Every checkpoint on disk, by its name relative to the run directory."""
        if not self.root.is_dir():
            return
        for task_dir in sorted(self.root.iterdir()):
            if task_dir.is_dir():
                for path in sorted(task_dir.glob("*.json")):
                    yield checkpoint_name(task_dir.name, path.stem)

    def prune(self, task: str, generation: int) -> int:
        """Remove the task's checkpoints of generations before ``generation``; returns how many."""
        removed = 0
        for path in sorted((self.root / task).glob("*.json")):
            try:
                older = Checkpoint.from_bytes(path.read_bytes()).generation < generation
            except (ValueError, TypeError, KeyError, OSError):
                older = True
            if older:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    async def structured(
        self,
        executor: LLMExecutor,
        messages: list[dict[str, str]],
        output_type: type[T],
        *,
        step: str,
        task: str,
        generation: int = 0,
    ) -> T:
        """``executor.structured``, served from a checkpoint when this very call was answered before."""
        models = [f"{spec.provider}:{spec.model_id}" for spec in executor.chain]
        key = call_key(step, models, messages, schema_of(output_type), generation)
        found = await anyio.to_thread.run_sync(self.load, task, key)
        if found is not None:
            try:
                value = output_type.model_validate(found.value)
            except ValidationError as exc:
                # The schema changed under the same name (a new release): the answer no longer fits.
                log.warning("call_checkpoint_stale", task=task, key=key, error=str(exc)[:300])
            else:
                usage = found.usage
                executor.reuse(
                    step,
                    found.model,
                    prompt_tokens=int(usage.get("prompt_tokens") or 0),
                    completion_tokens=int(usage.get("completion_tokens") or 0),
                    cost_usd=usage.get("cost_usd"),
                    extra={"checkpoint": found.name},
                )
                return value

        async def keep(answer: BaseModel, record: CallRecord) -> None:
            checkpoint = Checkpoint(
                key=key,
                task=task,
                step=step,
                generation=generation,
                model=record.model,
                value=answer.model_dump(mode="json"),
                usage={
                    "prompt_tokens": record.prompt_tokens,
                    "completion_tokens": record.completion_tokens,
                    **({"cost_usd": record.cost_usd} if record.cost_usd is not None else {}),
                },
                created_at=round(time.time(), 3),
            )
            # In a worker thread: the fsync must not hold up the batch's other calls.
            record.extra["checkpoint"] = await anyio.to_thread.run_sync(self.save, checkpoint)

        return await executor.structured(messages, output_type, step=step, keep=keep)
