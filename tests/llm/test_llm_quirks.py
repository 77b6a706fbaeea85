"""The stand-in server's real-model quirks, each met by the real client over loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import anyio
import httpx
import pytest
from pydantic import BaseModel, Field

from planexe.llm.config import ModelSpec
from planexe.llm.errors import AllModelsFailedError
from planexe.llm.executor import LLMExecutor, schema_of
from planexe.llm.retry import RetryPolicy
from planexe.llm.server.options import ServerOptions
from planexe.llm.types import CallRecord
from planexe.plan.text import Label, Sentence
from planexe.testing.llm_server import LLMServer, llm_server

DEFAULTS = ServerOptions().model_dump()


class Plan(BaseModel):
    title: Label
    verdict: Literal["go", "hold"]
    steps: list[Sentence] = Field(min_length=2, max_length=4)


@pytest.fixture(scope="module")
def server() -> Iterator[LLMServer]:
    with llm_server(seed=5) as handle:
        yield handle


@pytest.fixture
def llm(server: LLMServer) -> Iterator[LLMServer]:
    server.configure(**DEFAULTS)
    server.reset_stats()
    yield server


def ask(server: LLMServer, records: list[CallRecord], **spec: Any) -> Plan:
    model = ModelSpec(
        name="stand-in", provider="openai", model="test/model", base_url=server.base_url, timeout_s=5, **spec
    )
    executor = LLMExecutor(
        [model], policy=RetryPolicy(max_attempts=3, base_delay_s=0.0), listeners=[records.append]
    )
    messages = [{"role": "user", "content": "Plan a bakery in Copenhagen."}]
    return anyio.run(lambda: executor.structured(messages, Plan, step="plan"))


@pytest.mark.parametrize(
    ("quirk", "repairs"),
    [("fenced", ["code_fence"]), ("think", ["think_block"]), ("prose", ["prose"])],
)
def test_wrapped_answers_are_repaired_not_retried(llm: LLMServer, quirk: str, repairs: list[str]) -> None:
    llm.configure(**{f"rate_{quirk}": 1.0})
    records: list[CallRecord] = []
    assert isinstance(ask(llm, records), Plan)
    assert [(r.outcome, list(r.repairs)) for r in records] == [("ok", repairs)]
    assert llm.stats()["quirks_injected"][quirk] == 1


def test_a_truncated_answer_is_retried_once_with_more_room_then_given_up(llm: LLMServer) -> None:
    llm.configure(rate_truncated=1.0)
    records: list[CallRecord] = []
    with pytest.raises(AllModelsFailedError, match="truncated: the answer was cut off"):
        ask(llm, records)
    assert [r.outcome for r in records] == ["truncated", "truncated"]
    assert records[1].max_tokens == 2 * (records[0].max_tokens or 0)
    assert llm.stats()["quirks_injected"]["truncated"] == 2


def test_a_truncated_answer_succeeds_on_its_retry(llm: LLMServer) -> None:
    # Two draws per request (fault, then quirk); with seed 9 the first quirk draw is under 0.5
    # (truncate) and the second over it.
    llm.configure(rate_truncated=0.5, seed=9)
    records: list[CallRecord] = []
    ask(llm, records)
    assert [r.outcome for r in records] == ["truncated", "ok"]


def test_the_server_cuts_an_answer_at_max_tokens_and_the_client_says_truncated(llm: LLMServer) -> None:
    records: list[CallRecord] = []
    with pytest.raises(AllModelsFailedError, match="truncated"):
        ask(llm, records, max_tokens=16)
    assert llm.stats()["cut_at_max_tokens"] == 2
    assert [r.max_tokens for r in records] == [16, 16]  # a configured cap is not raised


def test_the_schemas_own_max_tokens_never_cuts_a_valid_answer(llm: LLMServer) -> None:
    records: list[CallRecord] = []
    for _ in range(20):
        ask(llm, records)
    stats = llm.stats()
    assert stats["with_max_tokens"] == 20 and stats["cut_at_max_tokens"] == 0
    assert {r.outcome for r in records} == {"ok"}


def test_an_answer_without_usage_is_counted_from_its_text(llm: LLMServer) -> None:
    llm.configure(rate_no_usage=1.0)
    records: list[CallRecord] = []
    ask(llm, records)
    (record,) = records
    assert record.usage_estimated and record.prompt_tokens > 0 and record.completion_tokens > 0


def test_a_prompt_longer_than_the_context_is_context_exceeded(llm: LLMServer) -> None:
    llm.configure(context_tokens=5)
    records: list[CallRecord] = []
    with pytest.raises(AllModelsFailedError, match="context_exceeded"):
        ask(llm, records)
    (record,) = records  # not retried: a bigger window is the fix, not a second try
    assert record.outcome == "context_exceeded"
    assert "context window of 5 tokens" in record.detail and "--ctx" in record.detail


def test_a_requests_per_minute_limit_is_waited_out_without_spending_an_attempt() -> None:
    # A server of its own: the module's server keeps earlier tests' requests in its window.
    with llm_server(requests_per_minute=1, limit_window_s=3) as limited:
        first: list[CallRecord] = []
        second: list[CallRecord] = []
        ask(limited, first)
        ask(limited, second)  # within 3 s of the first: refused with the wait until the window frees
        stats = limited.stats()
    assert [r.outcome for r in first] == ["ok"]
    assert [(r.outcome, r.attempt) for r in second] == [("rate_limited", 1), ("ok", 1)]
    # Sent again only once the window had room: a retry before the Retry-After would be refused too.
    assert (stats["rejected_rpm"], stats["requests"], stats["max_requests_per_window"]) == (1, 3, 1)


class TestStrictSchemas:
    def test_a_non_conforming_strict_schema_gets_openais_400(self, llm: LLMServer) -> None:
        llm.configure(strict_schemas=True)
        body = {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "hi"}],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "Plan", "strict": True, "schema": schema_of(Plan)},
            },
        }
        response = httpx.post(f"{llm.base_url}/chat/completions", json=body, timeout=5)
        assert response.status_code == 400
        assert response.json() == {
            "error": {
                "message": "Invalid schema for response_format 'Plan': In context=(), "
                "'additionalProperties' is required to be supplied and to be false.",
                "type": "invalid_request_error",
                "param": "response_format",
                "code": None,
            }
        }
        assert llm.stats()["rejected_strict"] == 1

    def test_the_client_sends_strict_schemas_the_check_accepts(self, llm: LLMServer) -> None:
        llm.configure(strict_schemas=True)
        records: list[CallRecord] = []
        ask(llm, records, strict=True)
        stats = llm.stats()
        assert (stats["strict_requests"], stats["rejected_strict"]) == (1, 0)
        assert [r.outcome for r in records] == ["ok"]

    def test_a_non_strict_request_is_not_checked(self, llm: LLMServer) -> None:
        llm.configure(strict_schemas=True)
        records: list[CallRecord] = []
        ask(llm, records)
        assert llm.stats()["rejected_strict"] == 0 and records[0].outcome == "ok"
