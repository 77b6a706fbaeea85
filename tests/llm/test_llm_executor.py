"""Retry and fallback decisions of the executor, over httpx.MockTransport."""

from __future__ import annotations

import json

import anyio
import httpx
import pytest
from llmhelpers import GOOD, Answer, Script, completion, make, ok, run, spec, status

from planexe.llm.errors import AllModelsFailedError, ProviderError
from planexe.llm.executor import schema_of
from planexe.llm.retry import RetryPolicy
from planexe.llm.schema_bounds import max_answer_tokens
from planexe.llm.types import ErrorKind


def test_success_sends_json_schema_and_records_tokens() -> None:
    script = Script(a=[ok])
    executor, records = make(script, spec("a"))
    assert run(executor) == Answer(**GOOD)
    body = script.bodies()[0]
    assert body["response_format"]["type"] == "json_schema"  # type: ignore[index]
    assert body["response_format"]["json_schema"]["schema"]["properties"]["score"]["maximum"] == 10  # type: ignore[index]
    assert [(r.outcome, r.prompt_tokens, r.completion_tokens) for r in records] == [("ok", 11, 5)]
    # The cap comes from the schema: {"verdict":"wait","score":<number>} at 2 characters a token.
    assert body["max_tokens"] == records[0].max_tokens == max_answer_tokens(schema_of(Answer))


def test_a_configured_max_tokens_overrides_the_schemas() -> None:
    script = Script(a=[ok])
    executor, _ = make(script, spec("a", max_tokens=512))
    run(executor)
    assert script.bodies()[0]["max_tokens"] == 512


@pytest.mark.parametrize("code", [429, 500, 502, 503])
def test_retryable_statuses_are_retried_on_the_same_model(code: int) -> None:
    script = Script(a=[status(code), status(code), ok])
    executor, records = make(script, spec("a"))
    assert run(executor).score == 7
    assert [r.outcome for r in records][-1] == "ok"
    assert len(records) == 3


@pytest.mark.parametrize(
    ("code", "kind"), [(401, "auth"), (403, "auth"), (400, "bad_request"), (404, "bad_request")]
)
def test_non_retryable_statuses_move_to_the_next_model_at_once(code: int, kind: str) -> None:
    script = Script(a=[status(code)], b=[ok])
    executor, records = make(script, spec("a", 1), spec("b", 2))
    assert run(executor).verdict == "go"
    assert [(r.model, r.outcome) for r in records] == [("a", kind), ("b", "ok")]


def test_invalid_output_is_fed_back_and_retried() -> None:
    bad = completion(json.dumps({"verdict": "maybe", "score": 99}))
    script = Script(a=[lambda _: bad, ok])
    executor, records = make(script, spec("a"))
    assert run(executor).score == 7
    retry_messages = script.bodies()[1]["messages"]
    assert retry_messages[-2]["role"] == "assistant"  # type: ignore[index]
    feedback = retry_messages[-1]["content"]  # type: ignore[index]
    assert "verdict" in feedback and "score" in feedback
    assert [r.outcome for r in records] == ["invalid_output", "ok"]


def test_malformed_json_is_invalid_output() -> None:
    script = Script(a=[lambda _: completion('{"verdict": "go", "sc'), ok])
    executor, records = make(script, spec("a"))
    run(executor)
    assert records[0].outcome == ErrorKind.INVALID_OUTPUT.value


def test_every_model_failing_says_why_for_each() -> None:
    script = Script(a=[status(500)], b=[status(401)])
    executor, records = make(script, spec("a", 1), spec("b", 2))
    with pytest.raises(AllModelsFailedError) as err:
        run(executor)
    message = str(err.value)
    assert "a: server: HTTP 500" in message and "b: auth: HTTP 401" in message
    assert [r.model for r in records] == ["a", "a", "a", "b"]  # 3 attempts on a, then b once


def test_timeouts_and_connection_errors_are_retried() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    script = Script(a=[timeout, refused, ok])
    executor, records = make(script, spec("a"))
    assert run(executor).verdict == "go"
    assert [r.outcome for r in records] == ["timeout", "connect", "ok"]


def test_schema_refusal_falls_back_to_json_mode_with_schema_in_prompt() -> None:
    def refuse_schema(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body["response_format"]["type"] == "json_schema":
            return httpx.Response(
                400, json={"error": {"message": "response_format json_schema not supported"}}
            )
        return completion(json.dumps(GOOD))

    script = Script(a=[refuse_schema])
    executor, _ = make(script, spec("a"))
    assert run(executor).score == 7
    assert run(executor).score == 7  # the switch sticks: no second refusal
    kinds = [b["response_format"]["type"] for b in script.bodies()]  # type: ignore[index]
    assert kinds == ["json_schema", "json_object", "json_object"]
    assert "matches this JSON schema" in script.bodies()[1]["messages"][-1]["content"]  # type: ignore[index]


def test_api_key_is_sent_but_never_in_errors_or_records() -> None:
    key = "sk-live-abcdef123456"

    def echo_key(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == f"Bearer {key}"
        return httpx.Response(500, json={"error": {"message": f"bad key {key} for you"}})

    from planexe.log import register_secret

    register_secret(key)
    script = Script(a=[echo_key])
    executor, records = make(script, spec("a", api_key=key))
    with pytest.raises(AllModelsFailedError) as err:
        run(executor)
    assert key not in str(err.value)
    assert all(key not in r.detail for r in records)


def test_retry_after_is_honoured_within_the_cap() -> None:
    policy = RetryPolicy(max_attempts=5, base_delay_s=1.0, max_delay_s=3.0)
    limited = ProviderError(ErrorKind.RATE_LIMITED, "slow down", retry_after=2.5)
    assert policy.decide(limited, 1).delay_s == 2.5
    huge = ProviderError(ErrorKind.RATE_LIMITED, "slow down", retry_after=600)
    assert policy.decide(huge, 1).delay_s == 3.0
    assert not policy.decide(limited, 5).retry
    assert not policy.decide(ProviderError(ErrorKind.AUTH, "no"), 1).retry


def test_backoff_grows_exponentially_with_bounded_jitter() -> None:
    import random

    policy = RetryPolicy(max_attempts=10, base_delay_s=1.0, max_delay_s=8.0, jitter=0.5)
    rng = random.Random(1)
    for attempt, full in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (6, 8.0)]:
        delays = [policy.backoff(attempt, rng) for _ in range(50)]
        assert all(full * 0.5 <= d <= full for d in delays)
        assert max(delays) - min(delays) > 0  # jitter really spreads them


def test_retry_after_header_reaches_the_policy() -> None:
    script = Script(a=[status(429, {"Retry-After": "0.01"}), ok])
    seen: list[float | None] = []

    class Spy(RetryPolicy):
        def decide(self, error, attempt, rng=None):  # type: ignore[no-untyped-def]
            seen.append(error.retry_after)
            return super().decide(error, attempt, rng)

    executor, _ = make(script, spec("a"), policy=Spy(max_attempts=3, base_delay_s=0, max_delay_s=1))
    run(executor)
    assert seen == [0.01]


def test_one_client_is_shared_by_all_calls_in_a_session() -> None:
    script = Script(a=[ok])
    executor, _ = make(script, spec("a"))
    opened: list[object] = []
    original = executor.providers["a"].new_client  # type: ignore[union-attr]

    def counting(transport=None):  # type: ignore[no-untyped-def]
        client = original(transport)
        opened.append(client)
        return client

    executor.providers["a"].new_client = counting  # type: ignore[union-attr,method-assign]

    async def go() -> None:
        async with executor.session(), anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(executor.structured, [{"role": "user", "content": "x"}], Answer)

    anyio.run(go)
    assert len(script.requests) == 10
    assert len(opened) == 1


def test_each_session_records_only_the_models_that_answered_inside_it() -> None:
    # Steps run side by side (as threads, or tasks of one loop) each in their own session;
    # each output must name the models that answered for that step alone.
    script = Script(a=[ok])
    executor, _ = make(script, spec("a"))
    seen: dict[str, set[str]] = {}

    async def step(name: str, calls: int, entered: anyio.Event, other: anyio.Event) -> None:
        async with executor.session() as answered:
            entered.set()
            await other.wait()  # both sessions are open at once
            for _ in range(calls):
                await executor.structured([{"role": "user", "content": name}], Answer, step=name)
            async with executor.session() as inner:  # a nested session shares the outer record
                assert inner is answered
            seen[name] = set(answered)

    async def go() -> None:
        x_in, y_in = anyio.Event(), anyio.Event()
        async with anyio.create_task_group() as tg:
            tg.start_soon(step, "x", 2, x_in, y_in)
            tg.start_soon(step, "y", 0, y_in, x_in)

    anyio.run(go)
    assert seen == {"x": {"a"}, "y": set()}
