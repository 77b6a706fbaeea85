"""The real client (executor + batching) against the real test server over loopback HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Literal

import anyio
import pytest
from pydantic import BaseModel, Field

from planexe.llm.batch import run_batch_async
from planexe.llm.config import ModelSpec
from planexe.llm.executor import LLMExecutor
from planexe.llm.retry import RetryPolicy
from planexe.llm.types import CallRecord
from planexe.testing.llm_server import LLMServer, llm_server


class Verdict(BaseModel):
    item: int = Field(ge=0, le=1000, description="the number of the item judged")
    decision: Literal["go", "hold", "stop"]
    reason: str = Field(max_length=200)
    risks: list[str] = Field(min_length=1, max_length=3)


@pytest.fixture(scope="module")
def server() -> Iterator[LLMServer]:
    with llm_server(seed=3) as handle:
        yield handle


def executor(
    server: LLMServer, records: list[CallRecord], timeout_s: float = 1.0, attempts: int = 10
) -> LLMExecutor:
    spec = ModelSpec(
        name="test", provider="openai", model="test-model", base_url=server.base_url, timeout_s=timeout_s
    )
    policy = RetryPolicy(max_attempts=attempts, base_delay_s=0.005, max_delay_s=0.05)
    return LLMExecutor([spec], policy=policy, listeners=[records.append])


def ask(ex: LLMExecutor, i: int):  # type: ignore[no-untyped-def]
    return ex.structured(
        [{"role": "user", "content": f"Judge item {i} of the bakery plan."}], Verdict, step=f"s:{i}"
    )


def test_two_hundred_calls_through_thirty_percent_faults_all_succeed(server: LLMServer) -> None:
    server.configure(
        latency="fixed:0", rate_429=0.06, rate_500=0.06, rate_hang=0.06, rate_malformed=0.06, rate_invalid=0.06,
        hang_s=3, retry_after_s=0.01,
    )  # fmt: skip
    server.reset_stats()
    records: list[CallRecord] = []
    ex = executor(server, records, timeout_s=0.5)
    try:

        async def batch() -> list[Verdict]:
            async with ex.session():  # one HTTP client for the batch, as a step has
                return await run_batch_async(range(200), lambda i: ask(ex, i), max_concurrency=16)  # type: ignore[arg-type]

        results = anyio.run(batch)
    finally:
        server.configure(rate_429=0, rate_500=0, rate_hang=0, rate_malformed=0, rate_invalid=0)
    assert len(results) == 200 and all(isinstance(r, Verdict) for r in results)
    stats = server.stats()
    injected = stats["errors_injected"]
    assert all(injected.get(kind, 0) > 0 for kind in ("429", "500", "hang", "malformed", "invalid")), injected
    assert stats["completions_ok"] >= 200
    attempts = len(records)
    outcomes = {r.outcome for r in records}
    assert {"ok", "rate_limited", "server", "timeout", "invalid_output"} <= outcomes
    assert attempts > 200  # retries happened
    print(f"\nfault run: 200 calls, {attempts} attempts ({attempts / 200:.2f} per call), injected {injected}")


def test_batch_of_forty_stays_within_the_cap_and_keeps_input_order(server: LLMServer) -> None:
    server.configure(latency="lognormal:0.05:0.6", max_concurrency=4, seed=9)
    try:
        results: dict[int, list[Verdict]] = {}
        finish_order: dict[int, list[int]] = {}
        timings: dict[int, float] = {}
        for cap in (1, 4):
            server.reset_stats()
            records: list[CallRecord] = []
            ex = executor(
                server, records, attempts=1
            )  # a 429 from the server's own limit would fail the batch

            async def batch(ex: LLMExecutor = ex, cap: int = cap) -> list[Verdict]:
                async with ex.session():
                    return await run_batch_async(range(40), lambda i: ask(ex, i), max_concurrency=cap)  # type: ignore[arg-type]

            started = time.perf_counter()
            results[cap] = anyio.run(batch)
            timings[cap] = time.perf_counter() - started
            stats = server.stats()
            assert stats["max_in_flight"] == cap
            assert stats["rejected_concurrency"] == 0
            finish_order[cap] = [int(r.step.split(":")[1]) for r in records]
    finally:
        server.configure(max_concurrency=None, latency="fixed:0")
    # The server's answer depends only on the request, so the concurrent batch
    # must equal the sequential one slot for slot, though it finished shuffled.
    assert results[4] == results[1]
    assert finish_order[1] == list(range(40))
    assert sorted(finish_order[4]) == list(range(40)) and finish_order[4] != list(range(40))
    print(
        f"\nbatch of 40: concurrency 1 {timings[1]:.2f}s, concurrency 4 {timings[4]:.2f}s, ratio {timings[1] / timings[4]:.1f}x"
    )
