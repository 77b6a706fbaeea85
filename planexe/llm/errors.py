"""Errors of one LLM attempt and of a whole call."""

from __future__ import annotations

from planexe.errors import LLMError
from planexe.llm.types import ErrorKind

RETRYABLE = frozenset(
    {
        ErrorKind.TIMEOUT,
        ErrorKind.CONNECT,
        ErrorKind.RATE_LIMITED,
        ErrorKind.SERVER,
        ErrorKind.INVALID_OUTPUT,
        ErrorKind.TRUNCATED,  # once, with more room: the executor marks a second truncation final
    }
)


class ProviderError(LLMError):
    """One attempt against one model failed."""

    def __init__(
        self, kind: ErrorKind, detail: str, *, retry_after: float | None = None, final: bool = False
    ) -> None:
        self.kind = kind
        self.detail = detail
        self.retry_after = retry_after
        self.final = final  # True: do not retry this model, whatever the kind
        super().__init__(f"{kind.value}: {detail}")

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE and not self.final


class ContextExceededError(ProviderError):
    """The prompt and its answer do not fit the model's context window."""

    def __init__(self, detail: str, *, window: int | None = None) -> None:
        self.window = window  # the window the server named, when it did
        super().__init__(ErrorKind.CONTEXT_EXCEEDED, detail)


class AllModelsFailedError(LLMError):
    """Every model in the chain failed."""

    def __init__(self, step: str, failures: list[tuple[str, ProviderError]]) -> None:
        self.step = step
        self.failures = failures
        reasons = "; ".join(f"{model}: {err}" for model, err in failures)
        super().__init__(f"LLM call for step {step or '?'} failed on every model ({reasons})")
