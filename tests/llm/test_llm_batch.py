from __future__ import annotations

import random

import anyio
import pytest

from planexe.llm.batch import BatchError, run_batch_async


def test_async_results_keep_input_order_whatever_the_completion_order() -> None:
    rng = random.Random(7)
    delays = [rng.random() * 0.02 for _ in range(30)]
    finished: list[int] = []

    async def work(i: int) -> int:
        await anyio.sleep(delays[i])
        finished.append(i)
        return i * i

    results = anyio.run(lambda: run_batch_async(list(range(30)), work, max_concurrency=8))
    assert results == [i * i for i in range(30)]
    assert finished != sorted(finished)  # they really finished out of order


def test_cap_bounds_in_flight_calls() -> None:
    in_flight = 0
    peak = 0

    async def work(_: int) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await anyio.sleep(0.005)
        in_flight -= 1

    anyio.run(lambda: run_batch_async(range(40), work, max_concurrency=4))  # type: ignore[arg-type]
    assert peak == 4


def test_the_first_failure_cancels_the_rest_and_is_raised() -> None:
    async def work(i: int) -> int:
        if i == 3:
            raise ValueError("bad item")
        await anyio.sleep(0.01)
        return i

    with pytest.raises(BatchError) as err:
        anyio.run(lambda: run_batch_async(list(range(8)), work, max_concurrency=2))
    assert err.value.index == 3
    assert isinstance(err.value.error, ValueError)


def test_invalid_cap_is_refused() -> None:
    async def work(i: int) -> int:
        return i

    with pytest.raises(ValueError, match="at least 1"):
        anyio.run(lambda: run_batch_async([1], work, max_concurrency=0))


def test_a_lambda_around_a_coroutine_function_is_awaited() -> None:
    async def work(i: int) -> int:
        await anyio.sleep(0)
        return i + 1

    results = anyio.run(lambda: run_batch_async([1, 2, 3], lambda i: work(i), max_concurrency=2))
    assert results == [2, 3, 4]
