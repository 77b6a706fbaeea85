"""Fakes for executor tests: a scripted OpenAI-compatible server over httpx.MockTransport."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Literal

import anyio
import httpx
from pydantic import BaseModel, Field

from planexe.llm.config import ModelSpec
from planexe.llm.executor import LLMExecutor
from planexe.llm.permits.local import LocalPermits
from planexe.llm.retry import RetryPolicy
from planexe.llm.types import CallRecord

FAST = RetryPolicy(max_attempts=3, base_delay_s=0.0, max_delay_s=0.05)


class Answer(BaseModel):
    verdict: Literal["go", "wait"]
    score: int = Field(ge=0, le=10)


GOOD = {"verdict": "go", "score": 7}


def completion(content: str, model: str = "m") -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 5},
        },
    )


def spec(name: str, priority: int = 1, **kw: object) -> ModelSpec:
    return ModelSpec(
        name=name, provider="openai", model=name, base_url=f"http://{name}.test/v1", priority=priority, **kw
    )


class Script:
    """A fake server that answers each model's requests from a list of responders."""

    def __init__(self, **per_host: list[Callable[[httpx.Request], httpx.Response]]) -> None:
        self.per_host = {k: list(v) for k, v in per_host.items()}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        host = request.url.host.split(".")[0]
        queue = self.per_host[host]
        return queue.pop(0)(request) if len(queue) > 1 else queue[0](request)

    def bodies(self) -> list[dict[str, object]]:
        return [json.loads(r.content) for r in self.requests]


def run(executor: LLMExecutor) -> Answer:
    async def go() -> Answer:
        return await executor.structured([{"role": "user", "content": "hi"}], Answer, step="s")

    return anyio.run(go)


def make(
    script: Script, *specs: ModelSpec, policy: RetryPolicy = FAST
) -> tuple[LLMExecutor, list[CallRecord]]:
    records: list[CallRecord] = []
    executor = LLMExecutor(
        specs,
        policy=policy,
        listeners=[records.append],
        transport=httpx.MockTransport(script),
        permits=LocalPermits(refusal_backoff_s=0.001),  # a refusal's cool-down, shortened
    )
    return executor, records


def ok(_: httpx.Request) -> httpx.Response:
    return completion(json.dumps(GOOD))


def status(code: int, headers: dict[str, str] | None = None) -> Callable[[httpx.Request], httpx.Response]:
    return lambda _: httpx.Response(code, json={"error": {"message": f"status {code}"}}, headers=headers)
