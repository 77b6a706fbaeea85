"""One structured LLM call: try the chain of models, retrying each by policy.

An answer counts only once it parses as JSON and validates against the
caller's pydantic model; a validation error is fed back to the model on the
next attempt so it can correct itself. Every HTTP attempt holds a permit of
its model's limits (``planexe.llm.permits``) and reports back how it went, so
a refusal slows every call to that model down and costs none of the attempts.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TypeVar

import anyio
import httpx
from pydantic import BaseModel

from planexe.llm import sizing
from planexe.llm.answer import accept
from planexe.llm.config import ModelSpec
from planexe.llm.errors import AllModelsFailedError, ContextExceededError, ProviderError
from planexe.llm.permits.context import on_permit_wait, step_slack
from planexe.llm.permits.gate import Outcome
from planexe.llm.permits.limits import ProviderLimits, limit_key
from planexe.llm.permits.local import LocalPermits
from planexe.llm.permits.types import PermitRequest, PermitSource, Report
from planexe.llm.pricing import call_cost
from planexe.llm.providers import OpenAICompatProvider, Provider, make_provider
from planexe.llm.retry import RetryPolicy, is_refusal
from planexe.llm.strict import to_strict
from planexe.llm.types import CallRecord, ChatRequest, ChatResponse, ErrorKind, SessionUsage
from planexe.log import get_logger

T = TypeVar("T", bound=BaseModel)
Listener = Callable[[CallRecord], None]
# Called with an accepted answer and its record before the record is published: the pipeline
# keeps the answer there (call checkpoints), so no listener hears of an answer that is not kept.
Keeper = Callable[[BaseModel, CallRecord], Awaitable[None]]
log = get_logger(__name__)

TRUNCATED_RETRY = (
    "Your previous answer was cut off before the JSON was complete. Reply again with the complete "
    "JSON only, and keep every text field short."
)

# Clients opened by ``LLMExecutor.session()``, keyed by model name; tasks started
# inside the session (a batch) inherit the context and so share the clients.
_clients: contextvars.ContextVar[dict[str, httpx.AsyncClient] | None] = contextvars.ContextVar(
    "planexe_llm_clients", default=None
)
# What the calls of the current session used, and which models answered: each task's output
# says truthfully which models made it and what it cost, also when tasks run as threads.
_usage: contextvars.ContextVar[SessionUsage | None] = contextvars.ContextVar(
    "planexe_llm_usage", default=None
)


@functools.cache
def schema_of(output_type: type[BaseModel], strict: bool = False) -> dict[str, object]:
    """The JSON schema of ``output_type`` (in OpenAI's strict form if ``strict``), computed once per
    process (pydantic does not cache it). Callers must not change what it returns."""
    return to_strict(schema_of(output_type)) if strict else output_type.model_json_schema()


class LLMExecutor:
    def __init__(
        self,
        chain: Sequence[ModelSpec],
        policy: RetryPolicy | None = None,
        listeners: Sequence[Listener] = (),
        transport: httpx.AsyncBaseTransport | None = None,
        permits: PermitSource | None = None,
        guard: Callable[[], None] | None = None,
    ) -> None:
        if not chain:
            raise ValueError("the model chain is empty")
        self.chain = tuple(chain)
        self.policy = policy or RetryPolicy()
        self.listeners = list(listeners)
        self.transport = transport  # tests inject httpx.MockTransport here
        self.guard = guard  # called before every attempt; raises to stop (the plan's budget)
        self.providers = {spec.name: make_provider(spec) for spec in self.chain}
        # Shared by every thread of the process that uses this executor; the service hands in its broker.
        self.permits: PermitSource = permits or LocalPermits()
        self._limits = {spec.name: (limit_key(spec), ProviderLimits.of(spec)) for spec in self.chain}
        self._last_success: dict[str, float] = {}  # limit key -> time.monotonic() of its last answer
        self._answer_tokens: dict[str, float] = {}  # limit key -> running mean of answer tokens
        self._prompt_scale: dict[str, sizing.PromptScale] = {}  # limit key -> its server's token count

    @property
    def is_offline(self) -> bool:
        return all(spec.is_offline for spec in self.chain)

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[SessionUsage]:
        """Share one HTTP client per model among every call made inside; yields what the calls
        inside used and which models answered (the outermost session's record, when nested)."""
        usage = _usage.get()
        if _clients.get() is not None and usage is not None:
            yield usage
            return
        clients: dict[str, httpx.AsyncClient] = {}
        usage = SessionUsage()
        tokens = (_clients.set(clients), _usage.set(usage))
        try:
            async with contextlib.AsyncExitStack() as stack:
                for name, provider in self.providers.items():
                    if isinstance(provider, OpenAICompatProvider):
                        clients[name] = await stack.enter_async_context(provider.new_client(self.transport))
                yield usage
        finally:
            _clients.reset(tokens[0])
            _usage.reset(tokens[1])

    def _emit(self, record: CallRecord) -> None:
        for listener in self.listeners:
            listener(record)

    async def structured(
        self,
        messages: list[dict[str, str]],
        output_type: type[T],
        *,
        step: str = "",
        keep: Keeper | None = None,
    ) -> T:
        """Ask the chain for an answer that validates as ``output_type``; ``keep`` is awaited with
        the answer before its call is recorded."""
        async with self.session():
            clients = _clients.get() or {}
            failures: list[tuple[str, ProviderError]] = []
            for spec in self.chain:
                result = await self._try_model(
                    spec, clients.get(spec.name), messages, output_type, step, keep
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
        output_type: type[T],
        step: str,
        keep: Keeper | None = None,
    ) -> T | ProviderError:
        provider = self.providers[spec.name]
        strict = spec.uses_strict
        schema = schema_of(output_type, strict)
        convo = list(messages)
        max_tokens = None if spec.is_offline else sizing.answer_cap(spec, schema)
        truncated = False
        attempt = 1
        asked = time.monotonic()  # the call's place in the permit queue, kept across refusals
        refused_since: float | None = None
        while True:
            if self.guard is not None:
                self.guard()
            started = time.perf_counter()
            request = ChatRequest(
                messages=convo,
                schema=schema,
                schema_name=output_type.__name__,
                step=step,
                max_tokens=max_tokens,
                strict=strict,
            )
            call = _Attempt(prompt_est=sizing.prompt_tokens(provider.sent_messages(request)))
            scale = self._prompt_scale.setdefault(self._limits[spec.name][0], sizing.PromptScale())
            prompt = scale.apply(call.prompt_est)  # at the size this model's server has counted
            try:
                request = self._fit(spec, request, prompt, step)
                call.max_tokens = request.max_tokens
                response = await self._complete(spec, provider, request, client, asked, prompt)
                call.took(response)
                if response.usage_reported:
                    scale.learn(call.prompt_est, response.prompt_tokens)
                try:
                    accepted = accept(response, output_type, request.max_tokens)
                except ProviderError as exc:
                    if exc.kind is ErrorKind.TRUNCATED:
                        # Once, with more room and a request to be brief: never the same request again.
                        exc.final = truncated
                        truncated = True
                        max_tokens = sizing.more_room(spec, request.max_tokens or 0) or None
                        convo = [*messages, {"role": "user", "content": TRUNCATED_RETRY}]
                    else:
                        convo = [
                            *messages,
                            {"role": "assistant", "content": response.content[:4000]},
                            {
                                "role": "user",
                                "content": "That answer did not match the required JSON schema: "
                                f"{exc.detail}. Reply again with corrected JSON only.",
                            },
                        ]
                    raise
            except TimeoutError:
                error: ProviderError = ProviderError(
                    ErrorKind.TIMEOUT, f"no answer within {spec.timeout_s:g}s"
                )
            except ContextExceededError as exc:
                window = exc.window or spec.context_window
                error = ProviderError(
                    ErrorKind.CONTEXT_EXCEEDED,
                    sizing.context_message(step, prompt, request.max_tokens or 0, window, exc.detail),
                )
            except ProviderError as exc:
                error = exc
            else:
                call.repairs = accepted.repairs
                record = self._record(step, spec, attempt, started, "ok", call, publish=False)
                if keep is not None:
                    await keep(accepted.value, record)
                self._publish(record)
                return accepted.value
            refused_for = 0.0
            if is_refusal(error):
                now = time.monotonic()
                refused_since = refused_since if refused_since is not None else now
                last_ok = self._last_success.get(self._limits[spec.name][0], refused_since)
                refused_for = now - max(refused_since, last_ok)
            else:
                refused_since = None
            decision = self.policy.decide(error, attempt, refused_for_s=refused_for)
            self._record(step, spec, attempt, started, error.kind.value, call, error.detail, decision.retry)
            if not decision.retry:
                if not decision.spends_attempt:
                    return ProviderError(error.kind, f"{decision.reason}; last answer: {error.detail}")
                return error
            if decision.spends_attempt:
                attempt += 1
            await anyio.sleep(decision.delay_s)

    async def _complete(
        self,
        spec: ModelSpec,
        provider: Provider,
        request: ChatRequest,
        client: httpx.AsyncClient | None,
        asked: float,
        prompt_est: int,
    ) -> ChatResponse:
        """One HTTP attempt under a permit of the model's limits, and the report of how it went."""
        if spec.is_offline:  # no provider, no limits: the answer is made here
            return await provider.complete(request, client)
        key, limits = self._limits[spec.name]
        answer_guess = int(self._answer_tokens.get(key, request.max_tokens or 1024))
        waited = time.monotonic()
        held = await self.permits.acquire(
            PermitRequest(key, limits, slack=step_slack.get(), tokens=prompt_est + answer_guess, since=asked)
        )
        meter = on_permit_wait.get()
        if meter is not None:
            meter(time.monotonic() - waited)
        report = Report(Outcome.FAILED)
        try:
            # Belt and braces over httpx's own timeout: a server that trickles
            # bytes forever would otherwise never trip a read timeout.
            with anyio.fail_after(spec.timeout_s + 5):
                response = await provider.complete(request, client)
            report = Report(
                Outcome.OK, tokens_used=(response.prompt_tokens + response.completion_tokens) or None
            )
            self._last_success[key] = time.monotonic()
            if response.completion_tokens:
                mean = self._answer_tokens.get(key, float(response.completion_tokens))
                self._answer_tokens[key] = 0.8 * mean + 0.2 * response.completion_tokens
            return response
        except ProviderError as exc:
            if is_refusal(exc):
                report = Report(Outcome.REFUSED, retry_after=exc.retry_after)
            elif exc.kind in (ErrorKind.BAD_REQUEST, ErrorKind.AUTH, ErrorKind.CONTEXT_EXCEEDED):
                report = Report(Outcome.OK)  # it answered at once: it had room for the call
            raise
        finally:
            with anyio.CancelScope(shield=True):
                await self.permits.release(held, report)

    @staticmethod
    def _fit(spec: ModelSpec, request: ChatRequest, prompt_est: int, step: str) -> ChatRequest:
        """``request`` with its answer cap fitted into the model's declared window; raises
        ``ContextExceededError`` when even a short answer would not fit."""
        if request.max_tokens is None:
            return request
        fitted = sizing.fit_to_window(spec, request.max_tokens, prompt_est)
        if fitted is None:
            raise ContextExceededError("refused before sending", window=spec.context_window)
        return request if fitted == request.max_tokens else dataclasses.replace(request, max_tokens=fitted)

    def _record(
        self,
        step: str,
        spec: ModelSpec,
        attempt: int,
        started: float,
        outcome: str,
        call: _Attempt,
        detail: str = "",
        will_retry: bool = False,
        publish: bool = True,
    ) -> CallRecord:
        duration = time.perf_counter() - started
        fields = {"step": step, "model": spec.model_id, "attempt": attempt, "duration_s": round(duration, 4)}
        if outcome == "ok":
            log.debug("llm_attempt", outcome=outcome, repairs=list(call.repairs), **fields)
        else:
            log.warning("llm_attempt", outcome=outcome, detail=detail, will_retry=will_retry, **fields)
        record = CallRecord(
            step=step,
            model=spec.model_id,
            attempt=attempt,
            duration_s=duration,
            outcome=outcome,
            prompt_tokens=call.prompt_tokens,
            completion_tokens=call.completion_tokens,
            detail=detail,
            extra={"served_model": call.served_model} if call.served_model not in ("", spec.model_id) else {},
            model_name=spec.name if spec.name != spec.model_id else "",
            repairs=call.repairs,
            max_tokens=call.max_tokens,
            prompt_tokens_est=call.prompt_est,
            cost_usd=call_cost(spec, call.prompt_tokens, call.completion_tokens),
            usage_estimated=call.usage_estimated,
        )
        if publish:
            self._publish(record)
        return record

    def _publish(self, record: CallRecord) -> None:
        usage = _usage.get()
        if usage is not None:
            usage.add(record)
        self._emit(record)

    def reuse(
        self,
        step: str,
        model: str,
        *,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        cost_usd: float | None = None,
        extra: dict[str, object] | None = None,
    ) -> None:
        """Count an answer kept from an earlier run (no call is made): in the session's usage at
        what it cost then, so the step's output still says what made it, and to the listeners
        as a ``cached`` call that costs nothing now, so the plan's usage counts it once."""
        usage = _usage.get()
        if usage is not None:
            usage.add_reused(model, prompt_tokens, completion_tokens, cost_usd)
        self._emit(
            CallRecord(
                step=step,
                model=model,
                attempt=1,
                duration_s=0.0,
                outcome="ok",
                cached=True,
                extra=dict(extra or {}),
            )
        )


@dataclasses.dataclass
class _Attempt:
    """What one attempt sent and got, for its record."""

    prompt_est: int  # estimated prompt tokens, before sending
    max_tokens: int | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    usage_estimated: bool = False
    served_model: str = ""
    repairs: tuple[str, ...] = ()

    def took(self, response: ChatResponse) -> None:
        self.served_model = response.model
        if response.usage_reported:
            self.prompt_tokens, self.completion_tokens = response.prompt_tokens, response.completion_tokens
        else:
            # No usage in the answer: count what we can see, so cost and budgets still add up.
            self.prompt_tokens = response.prompt_tokens or self.prompt_est
            self.completion_tokens = response.completion_tokens or sizing.estimate_tokens(response.content)
            self.usage_estimated = True
