"""Run many calls concurrently under a cap, results in input order.

A pipeline task that makes many LLM calls awaits one batch inside one event
loop; the cap (``PLANEXE_MAX_CONCURRENT_LLM``) bounds calls in flight, and the
executor's session shares one HTTP client per model across the whole batch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import anyio

from planexe.errors import PlanExeError

A = TypeVar("A")
R = TypeVar("R")


class BatchError(PlanExeError):
    """An item of the batch failed."""

    def __init__(self, index: int, error: BaseException) -> None:
        self.index = index
        self.error = error
        super().__init__(f"batch item {index} failed: {error}")


async def run_batch_async(
    items: Sequence[A], fn: Callable[[A], Awaitable[R]], *, max_concurrency: int
) -> list[R]:
    """Await ``fn`` on every item, at most ``max_concurrency`` at once, results in input order.

    The first item that fails (after its own retries, which the executor does) cancels the
    rest and is raised as ``BatchError``: a step needs all of its answers. The steps open
    the executor's session around the whole task, so the batch shares its HTTP clients.
    """
    if max_concurrency < 1:
        raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
    results: list[Any] = [None] * len(items)
    limiter = anyio.CapacityLimiter(max_concurrency)

    async def one(index: int, item: A) -> None:
        async with limiter:
            try:
                results[index] = await fn(item)
            except Exception as exc:
                raise BatchError(index, exc) from exc

    try:
        async with anyio.create_task_group() as tg:
            for index, item in enumerate(items):
                tg.start_soon(one, index, item)
    except BaseExceptionGroup as group:
        # Surface the item's own error rather than a group wrapping it.
        first = group.exceptions[0]
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None
    return results
