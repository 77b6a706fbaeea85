"""One structured LLM call: try the chain of models, retrying each by policy.

An answer counts only once it parses as JSON and validates against the
caller's pydantic model; a validation error is fed back to the model on the
next attempt so it can correct itself.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TypeVar

import anyio
import httpx
from pydantic import BaseModel, ValidationError

from planexe.llm.config import ModelSpec
from planexe.llm.errors import AllModelsFailedError, ProviderError
from planexe.llm.providers import OpenAICompatProvider, make_provider
from planexe.llm.retry import RetryPolicy
from planexe.llm.types import CallRecord, ChatRequest, ErrorKind
from planexe.log import get_logger

T = TypeVar("T", bound=BaseModel)
Listener = Callable[[CallRecord], None]
log = get_logger(__name__)

# Clients opened by ``LLMExecutor.session()``, keyed by model name; tasks started
# inside the session (a batch) inherit the context and so share the clients.
_clients: contextvars.ContextVar[dict[str, httpx.AsyncClient] | None] = contextvars.ContextVar(
    "planexe_llm_clients", default=None
)
# Names of the models that gave an accepted answer inside the current session: each
# task's output says truthfully which models made it, also when tasks run as threads.
_answered: contextvars.ContextVar[set[str] | None] = contextvars.ContextVar(
    "planexe_llm_answered", default=None
)


_schemas: dict[type[BaseModel], dict[str, object]] = {}


def schema_of(output_type: type[BaseModel]) -> dict[str, object]:
    """The JSON schema of ``output_type``, computed once per process (pydantic does not cache it)."""
    schema = _schemas.get(output_type)
    if schema is None:
        schema = _schemas[output_type] = output_type.model_json_schema()
    return schema


def _validation_feedback(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        problems = [f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()[:8]]
        return "; ".join(problems)
    return str(exc)[:300]


class LLMExecutor:
    def __init__(
        self,
        chain: Sequence[ModelSpec],
        policy: RetryPolicy | None = None,
        listeners: Sequence[Listener] = (),
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not chain:
            raise ValueError("the model chain is empty")
        self.chain = tuple(chain)
        self.policy = policy or RetryPolicy()
        self.listeners = list(listeners)
        self.transport = transport  # tests inject httpx.MockTransport here
        self.providers = {spec.name: make_provider(spec) for spec in self.chain}

    @property
    def is_offline(self) -> bool:
        return all(spec.is_offline for spec in self.chain)

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[set[str]]:
        """Share one HTTP client per model among every call made inside; yields the names of
        the models that answered within the session (the outermost one, when nested)."""
        answered = _answered.get()
        if _clients.get() is not None and answered is not None:
            yield answered
            return
        clients: dict[str, httpx.AsyncClient] = {}
        answered = set()
        tokens = (_clients.set(clients), _answered.set(answered))
        try:
            async with contextlib.AsyncExitStack() as stack:
                for name, provider in self.providers.items():
                    if isinstance(provider, OpenAICompatProvider):
                        clients[name] = await stack.enter_async_context(provider.new_client(self.transport))
                yield answered
        finally:
            _clients.reset(tokens[0])
            _answered.reset(tokens[1])

    def _emit(self, record: CallRecord) -> None:
        for listener in self.listeners:
            listener(record)

    async def structured(
        self,
        messages: list[dict[str, str]],
        output_type: type[T],
        *,
        step: str = "",
    ) -> T:
        """Ask the chain for an answer that validates as ``output_type``."""
        async with self.session():
            clients = _clients.get() or {}
            schema = schema_of(output_type)
            failures: list[tuple[str, ProviderError]] = []
            for spec in self.chain:
                result = await self._try_model(
                    spec, clients.get(spec.name), messages, schema, output_type, step
                )
                if isinstance(result, ProviderError):
                    failures.append((spec.name, result))
                    continue
                return result
            raise AllModelsFailedError(step, failures)

    async def _try_model(
        self,
        spec: ModelSpec,
        client: httpx.AsyncClient | None,
        messages: list[dict[str, str]],
        schema: dict[str, object],
        output_type: type[T],
        step: str,
    ) -> T | ProviderError:
        provider = self.providers[spec.name]
        convo = list(messages)
        attempt = 0
        while True:
            attempt += 1
            started = time.perf_counter()
            request = ChatRequest(messages=convo, schema=schema, schema_name=output_type.__name__, step=step)
            tokens = (0, 0)
            try:
                # Belt and braces over httpx's own timeout: a server that trickles
                # bytes forever would otherwise never trip a read timeout.
                with anyio.fail_after(spec.timeout_s + 5):
                    response = await provider.complete(request, client)
                tokens = (response.prompt_tokens, response.completion_tokens)
                try:
                    value = output_type.model_validate_json(response.content)
                except (ValidationError, ValueError) as exc:
                    convo = [
                        *messages,
                        {"role": "assistant", "content": response.content[:4000]},
                        {
                            "role": "user",
                            "content": "That answer did not match the required JSON schema: "
                            f"{_validation_feedback(exc)}. Reply again with corrected JSON only.",
                        },
                    ]
                    raise ProviderError(ErrorKind.INVALID_OUTPUT, _validation_feedback(exc)) from exc
            except TimeoutError:
                error: ProviderError = ProviderError(
                    ErrorKind.TIMEOUT, f"no answer within {spec.timeout_s:g}s"
                )
            except ProviderError as exc:
                error = exc
            else:
                self._record(step, spec, attempt, started, "ok", tokens)
                answered = _answered.get()
                if answered is not None:
                    answered.add(spec.name)
                return value
            decision = self.policy.decide(error, attempt)
            self._record(step, spec, attempt, started, error.kind.value, tokens, error.detail, decision.retry)
            if not decision.retry:
                return error
            await anyio.sleep(decision.delay_s)

    def _record(
        self,
        step: str,
        spec: ModelSpec,
        attempt: int,
        started: float,
        outcome: str,
        tokens: tuple[int, int],
        detail: str = "",
        will_retry: bool = False,
    ) -> None:
        duration = time.perf_counter() - started
        fields = {"step": step, "model": spec.name, "attempt": attempt, "duration_s": round(duration, 4)}
        if outcome == "ok":
            log.debug("llm_attempt", outcome=outcome, **fields)
        else:
            log.warning("llm_attempt", outcome=outcome, detail=detail, will_retry=will_retry, **fields)
        self._emit(
            CallRecord(
                step=step,
                model=spec.name,
                attempt=attempt,
                duration_s=duration,
                outcome=outcome,
                prompt_tokens=tokens[0],
                completion_tokens=tokens[1],
                detail=detail,
            )
        )
