"""Run many calls concurrently under a cap, results in input order.

A pipeline task that makes many LLM calls awaits one batch inside one event
loop; the cap (``PLANEXE_MAX_CONCURRENT_LLM``) bounds calls in flight, and the
executor's session shares one HTTP client per model across the whole batch.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

import anyio

from planexe.errors import PlanExeError

A = TypeVar("A")
R = TypeVar("R")


class OnError(StrEnum):
    FAIL = "fail"  # the first item that fails (after its own retries) cancels the rest and is raised
    COLLECT = "collect"  # every item runs; failures come back as ItemError in their slot


@dataclass(frozen=True)
class ItemError(Generic[A]):
    index: int
    item: A
    error: BaseException


class BatchError(PlanExeError):
    """An item of the batch failed."""

    def __init__(self, index: int, error: BaseException) -> None:
        self.index = index
        self.error = error
        super().__init__(f"batch item {index} failed: {error}")


def _is_async(fn: Callable[..., Any]) -> bool:
    target = fn.func if isinstance(fn, functools.partial) else fn
    if inspect.iscoroutinefunction(target):
        return True
    # An object whose __call__ is a coroutine function is async too.
    return not inspect.isroutine(target) and inspect.iscoroutinefunction(type(target).__call__)


async def run_batch_async(
    items: Sequence[A],
    fn: Callable[[A], Awaitable[R]] | Callable[[A], R],
    *,
    max_concurrency: int,
    on_error: OnError | str = OnError.FAIL,
    session: contextlib.AbstractAsyncContextManager[Any] | None = None,
) -> list[R] | list[R | ItemError[A]]:
    """Apply ``fn`` to every item, at most ``max_concurrency`` at once.

    ``fn`` may be a coroutine function or a plain function (run in a worker
    thread). ``session`` (usually ``executor.session()``) is entered once
    around the batch.
    """
    if max_concurrency < 1:
        raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
    policy = OnError(on_error)
    results: list[Any] = [None] * len(items)
    limiter = anyio.CapacityLimiter(max_concurrency)
    # Threads need a limiter of their own: a task may not hold two tokens of one limiter.
    thread_limiter = anyio.CapacityLimiter(max_concurrency)
    run_async = _is_async(fn)

    async def one(index: int, item: A) -> None:
        async with limiter:
            try:
                if run_async:
                    results[index] = await fn(item)  # type: ignore[misc]
                else:
                    result = await anyio.to_thread.run_sync(fn, item, limiter=thread_limiter)
                    # A plain callable that returns an awaitable (a lambda around a
                    # coroutine function) is async in all but name: finish it here.
                    results[index] = await result if inspect.isawaitable(result) else result
            except Exception as exc:
                if policy is OnError.FAIL:
                    raise BatchError(index, exc) from exc
                results[index] = ItemError(index, item, exc)

    async with contextlib.AsyncExitStack() as stack:
        if session is not None:
            await stack.enter_async_context(session)
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
