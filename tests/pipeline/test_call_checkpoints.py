"""Call checkpoints: keys, the files, and answers served from them instead of the model.

The calls go through the real executor to the real test LLM server over loopback; the
server's own counters say whether a call was made.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from pydantic import BaseModel, Field

from planexe.llm.config import ModelSpec
from planexe.llm.executor import LLMExecutor, schema_of
from planexe.llm.retry import RetryPolicy
from planexe.llm.types import CallRecord
from planexe.pipeline.calls import CallBook, Checkpoint, call_key, checkpoint_name, is_checkpoint_name
from planexe.testing.llm_server import LLMServer, llm_server


class Estimate(BaseModel):
    item: str = Field(max_length=40)
    days: int = Field(ge=1, le=100)


MESSAGES = [{"role": "system", "content": "You estimate."}, {"role": "user", "content": "Paint the shop."}]


@pytest.fixture(scope="module")
def server() -> Iterator[LLMServer]:
    with llm_server(seed=5) as handle:
        yield handle


def executor(server: LLMServer, records: list[CallRecord]) -> LLMExecutor:
    spec = ModelSpec(
        name="test", provider="openai", model="test-model", base_url=server.base_url, timeout_s=5
    )
    return LLMExecutor(
        [spec], policy=RetryPolicy(max_attempts=3, base_delay_s=0.01), listeners=[records.append]
    )


def ask(book: CallBook, ex: LLMExecutor, generation: int = 0, step: str = "wbs_level3:1.1") -> Estimate:
    async def go() -> Estimate:
        async with ex.session():
            return await book.structured(
                ex, MESSAGES, Estimate, step=step, task="wbs_level3", generation=generation
            )

    return anyio.run(go)


def test_the_key_changes_with_everything_that_determines_the_answer() -> None:
    schema = schema_of(Estimate)
    base = call_key("wbs_level3:1.1", ["openai:m"], MESSAGES, schema, 0)
    assert base == call_key("wbs_level3:1.1", ["openai:m"], [dict(m) for m in MESSAGES], dict(schema), 0)
    changed = [
        call_key("wbs_level3:1.2", ["openai:m"], MESSAGES, schema, 0),  # another item
        call_key("wbs_level3:1.1", ["openai:other"], MESSAGES, schema, 0),  # another model
        call_key("wbs_level3:1.1", ["openai:m", "openai:n"], MESSAGES, schema, 0),  # another chain
        call_key("wbs_level3:1.1", ["openai:m"], [MESSAGES[0], {"role": "user", "content": "x"}], schema, 0),
        call_key("wbs_level3:1.1", ["openai:m"], MESSAGES, schema_of(Checkpointed), 0),  # another schema
        call_key("wbs_level3:1.1", ["openai:m"], MESSAGES, schema, 1),  # invalidated by a rerun
    ]
    assert len({base, *changed}) == len(changed) + 1


class Checkpointed(BaseModel):
    item: str


def test_a_kept_answer_is_served_without_a_call(tmp_path: Path, server: LLMServer) -> None:
    book = CallBook(tmp_path)
    records: list[CallRecord] = []
    ex = executor(server, records)
    server.reset_stats()
    first = ask(book, ex)
    assert server.stats()["completions_ok"] == 1
    # The answer is on disk, and its call's record names the file (the service ships it from there).
    [name] = list(book.names())
    assert is_checkpoint_name(name) and (tmp_path / name).exists()
    assert [(r.outcome, r.cached, r.extra.get("checkpoint")) for r in records] == [("ok", False, name)]
    kept = Checkpoint.from_bytes((tmp_path / name).read_bytes())
    assert kept.value == first.model_dump() and kept.model == "test-model"
    assert kept.usage["prompt_tokens"] == records[0].prompt_tokens > 0

    # Asked again (a resumed run, a new executor): the server sees nothing, the answer is the same.
    again: list[CallRecord] = []
    assert ask(book, executor(server, again)) == first
    assert server.stats()["requests"] == 1
    assert [(r.outcome, r.cached, r.prompt_tokens, r.completion_tokens) for r in again] == [
        ("ok", True, 0, 0)
    ]
    assert again[0].extra["checkpoint"] == name


def test_a_reused_answer_counts_in_the_steps_usage_at_what_it_cost(tmp_path: Path, server: LLMServer) -> None:
    book = CallBook(tmp_path)
    records: list[CallRecord] = []
    ask(book, executor(server, records))
    ex = executor(server, [])

    async def go() -> dict[str, object]:
        async with ex.session() as usage:
            await book.structured(ex, MESSAGES, Estimate, step="wbs_level3:1.1", task="wbs_level3")
            return usage.summary()

    summary = anyio.run(go)
    assert summary["calls"] == 1 and summary["reused_calls"] == 1 and summary["attempts"] == 0
    assert summary["prompt_tokens"] == records[0].prompt_tokens


def test_a_new_generation_asks_again_and_prune_drops_the_old_ones(tmp_path: Path, server: LLMServer) -> None:
    book = CallBook(tmp_path)
    ex = executor(server, [])
    server.reset_stats()
    ask(book, ex, generation=0)
    ask(book, ex, generation=1)
    assert server.stats()["completions_ok"] == 2
    assert len(list(book.names())) == 2
    assert book.prune("wbs_level3", 1) == 1
    [left] = list(book.names())
    assert Checkpoint.from_bytes((tmp_path / left).read_bytes()).generation == 1


def test_a_damaged_or_misfiled_checkpoint_is_asked_again(tmp_path: Path, server: LLMServer) -> None:
    book = CallBook(tmp_path)
    ex = executor(server, [])
    ask(book, ex)
    [name] = list(book.names())
    (tmp_path / name).write_text("{not json")
    server.reset_stats()
    ask(book, ex)
    assert server.stats()["completions_ok"] == 1
    # A checkpoint under another call's name is not that call's answer.
    other = tmp_path / checkpoint_name("wbs_level3", "0" * 64)
    other.write_bytes((tmp_path / name).read_bytes())
    assert book.load("wbs_level3", "0" * 64) is None
