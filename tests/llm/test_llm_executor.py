"""Retry and fallback decisions of the executor, over httpx.MockTransport."""

from __future__ import annotations

import json

import anyio
import httpx
import pytest
from llmhelpers import FAST, GOOD, Answer, Script, completion, make, ok, run, spec, status

from planexe.llm.errors import AllModelsFailedError, ProviderError
from planexe.llm.executor import LLMExecutor, schema_of
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
    busy = ProviderError(ErrorKind.SERVER, "HTTP 502: bad gateway", retry_after=2.5)
    assert policy.decide(busy, 1).delay_s == 2.5
    huge = ProviderError(ErrorKind.SERVER, "HTTP 502: bad gateway", retry_after=600)
    assert policy.decide(huge, 1).delay_s == 3.0
    assert not policy.decide(busy, 5).retry
    assert not policy.decide(ProviderError(ErrorKind.AUTH, "no"), 1).retry


def test_a_refusal_spends_no_attempt_until_the_patience_runs_out() -> None:
    policy = RetryPolicy(max_attempts=2, rate_limit_patience_s=300)
    refused = ProviderError(ErrorKind.RATE_LIMITED, "too many requests in flight", retry_after=2.5)
    decision = policy.decide(refused, 2, refused_for_s=299)
    # The permit gate waits out the Retry-After for every call to the model, not the policy.
    assert decision.retry and not decision.spends_attempt and decision.delay_s == 0
    given_up = policy.decide(refused, 1, refused_for_s=300)
    assert not given_up.retry and "without a single success" in given_up.reason
    overloaded = ProviderError(ErrorKind.SERVER, "HTTP 503: the model is overloaded, try again later")
    assert not policy.decide(overloaded, 2).spends_attempt
    assert policy.decide(ProviderError(ErrorKind.SERVER, "HTTP 503: maintenance"), 1).spends_attempt
    # Out of credit is answered 429 as well, and waiting does not end it.
    broke = ProviderError(ErrorKind.RATE_LIMITED, "You exceeded your current quota, check your billing")
    assert policy.decide(broke, 1).spends_attempt and not policy.decide(broke, 2).retry


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
        def decide(self, error, attempt, rng=None, **kwargs):  # type: ignore[no-untyped-def]
            seen.append(error.retry_after)
            return super().decide(error, attempt, rng, **kwargs)

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
            seen[name] = set(answered.models)

    async def go() -> None:
        x_in, y_in = anyio.Event(), anyio.Event()
        async with anyio.create_task_group() as tg:
            tg.start_soon(step, "x", 2, x_in, y_in)
            tg.start_soon(step, "y", 0, y_in, x_in)

    anyio.run(go)
    assert seen == {"x": {"a"}, "y": set()}


def test_refusals_spend_none_of_the_attempts_meant_for_real_failures() -> None:
    refused = status(429, {"Retry-After": "0"})
    script = Script(a=[refused, refused, refused, refused, refused, status(500), ok])
    executor, records = make(script, spec("a"), policy=RetryPolicy(max_attempts=2, base_delay_s=0))
    assert run(executor).score == 7
    outcomes = [(r.outcome, r.attempt) for r in records]
    assert outcomes == [("rate_limited", 1)] * 5 + [("server", 1), ("ok", 2)]


def test_a_model_that_only_refuses_fails_after_the_patience_and_says_so() -> None:
    script = Script(a=[status(429, {"Retry-After": "0.01"})], b=[ok])
    policy = RetryPolicy(max_attempts=2, rate_limit_patience_s=0.2)
    executor, records = make(script, spec("a", 1), spec("b", 2), policy=policy)
    assert run(executor).verdict == "go"  # the next model answers
    refusals = [r for r in records if r.model == "a"]
    assert len(refusals) > 2 and all(r.attempt == 1 for r in refusals)
    executor, _ = make(Script(a=[status(429, {"Retry-After": "0.01"})]), spec("a"), policy=policy)
    with pytest.raises(AllModelsFailedError) as err:
        run(executor)
    assert "without a single success" in str(err.value)
    assert "PLANEXE_LLM_RATE_LIMIT_PATIENCE_S" in str(err.value)


def test_calls_from_many_threads_share_one_limit_per_model() -> None:
    """Steps run as threads, each with its own event loop: one executor's limit holds across them."""
    import threading

    lock = threading.Lock()
    in_flight = peak = 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        await anyio.sleep(0.01)
        with lock:
            in_flight -= 1
        return completion(json.dumps(GOOD))

    executor = LLMExecutor([spec("a", max_in_flight=3)], policy=FAST, transport=httpx.MockTransport(slow))
    threads = [threading.Thread(target=lambda: [run(executor) for _ in range(5)]) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 2 <= peak <= 3  # six threads at once without the limit
