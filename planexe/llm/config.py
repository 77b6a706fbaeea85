"""Which models to call, in which order, read from a config file and the environment.

A config file (``PLANEXE_LLM_CONFIG``, JSON or TOML) lists named models::

    {"models": [{"name": "main", "provider": "openrouter", "model": "openai/gpt-4o-mini",
                 "api_key_env": "OPENROUTER_API_KEY", "timeout_s": 90, "priority": 1}]}

``PLANEXE_LLM_BASE_URL`` + ``PLANEXE_LLM_MODEL`` (+ ``PLANEXE_LLM_API_KEY``) add one
OpenAI-compatible model in front of the chain; ``PLANEXE_LLM_MODEL`` alone may name
a model of the file to put first. With nothing configured the offline provider is used.
Every problem is raised as ``LLMConfigError`` naming the field, before any plan starts.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from planexe.errors import LLMConfigError
from planexe.log import register_secret
from planexe.settings import Settings

ProviderName = Literal["openai", "openrouter", "ollama", "lmstudio", "vllm", "llamacpp", "offline"]

# Every provider but ``offline`` speaks the OpenAI chat-completions protocol; these
# are the addresses they listen on unless the config says otherwise.
DEFAULT_BASE_URLS: dict[str, str] = {
    "openai": "https://api.openai.com/v1",
    "openrouter": "https://openrouter.ai/api/v1",
    "ollama": "http://127.0.0.1:11434/v1",
    "lmstudio": "http://127.0.0.1:1234/v1",
    "vllm": "http://127.0.0.1:8000/v1",
    "llamacpp": "http://127.0.0.1:8080/v1",
}
OFFLINE_MODEL_NAME = "offline"
# Hosts whose chat completions take OpenAI's strict structured output by default.
STRICT_HOSTS = frozenset({"api.openai.com"})

# Calls in flight per task when PLANEXE_MAX_CONCURRENT_LLM is unset. Hosted APIs
# and vLLM serve many requests at once and answer overload with 429 (which the
# executor waits out); a desktop server (Ollama, LM Studio, llama.cpp) runs one
# to four at a time and queues the rest, so 16 queued calls per task would sit
# out their timeouts there instead of finishing sooner.
HOSTED_CONCURRENCY = 16
LOCAL_CONCURRENCY = 4
LOCAL_PROVIDERS = frozenset({"ollama", "lmstudio", "llamacpp"})


class ModelSpec(BaseModel):
    """One model the executor may call."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100, description="Name used in logs and in PLANEXE_LLM_MODEL.")
    provider: ProviderName
    model: str = Field(default="", description="Model id sent to the server.")
    base_url: str | None = Field(default=None, description="Server URL ending in /v1; defaults per provider.")
    api_key_env: str | None = Field(default=None, description="Name of the env variable holding the API key.")
    timeout_s: float = Field(default=120.0, gt=0, le=3600)
    priority: int = Field(default=100, description="Lower is tried first.")
    structured_output: Literal["auto", "json_schema", "json_object"] = Field(
        default="auto",
        description="auto: JSON schema first, JSON mode with the schema in the prompt if the server refuses it.",
    )
    max_tokens: int | None = Field(
        default=None,
        ge=16,
        le=1_000_000,
        description="Cap on every answer's length, sent as max_tokens; unset: derived per call from "
        "the step's schema (reasoning models, whose thinking counts, need it set).",
    )
    context_window: int | None = Field(
        default=None,
        ge=512,
        le=10_000_000,
        description="Tokens of prompt plus answer the model takes; PlanExe refuses at start-up a "
        "window too small for its prompts and caps each answer to fit. Unset: unknown.",
    )
    strict: bool | None = Field(
        default=None,
        description="Send OpenAI's strict structured output (strict: true, schemas in strict form). "
        "Unset: on for api.openai.com, off elsewhere.",
    )
    input_usd_per_mtok: float | None = Field(
        default=None, ge=0, le=10_000, description="Price of a million prompt tokens, USD."
    )
    output_usd_per_mtok: float | None = Field(
        default=None, ge=0, le=10_000, description="Price of a million answer tokens, USD."
    )
    max_in_flight: int | None = Field(
        default=None, ge=1, le=10_000, description="The provider's limit on calls in flight for this key."
    )
    requests_per_minute: int | None = Field(
        default=None, ge=1, le=10_000_000, description="The provider's limit on requests per minute."
    )
    tokens_per_minute: int | None = Field(
        default=None, ge=1, le=1_000_000_000, description="The provider's limit on tokens per minute."
    )
    limit_group: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="Models with the same group share one set of limits (one API key for several "
        "models); unset: server, model id and key decide.",
    )
    api_key: str | None = Field(
        default=None, exclude=True, repr=False
    )  # resolved from api_key_env, never from a file

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @property
    def is_offline(self) -> bool:
        return self.provider == "offline"

    def effective_base_url(self) -> str:
        return self.base_url or DEFAULT_BASE_URLS[self.provider]

    @property
    def model_id(self) -> str:
        """How events, usage and reports name this model: the id the server is asked for."""
        return self.model or self.name

    @property
    def uses_strict(self) -> bool:
        if self.strict is not None:
            return self.strict
        return not self.is_offline and urlsplit(self.effective_base_url()).hostname in STRICT_HOSTS

    @property
    def priced(self) -> bool:
        return self.input_usd_per_mtok is not None or self.output_usd_per_mtok is not None


OFFLINE_MODEL = ModelSpec(
    name=OFFLINE_MODEL_NAME, provider="offline", model=OFFLINE_MODEL_NAME, priority=1000
)


class _ConfigFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    models: list[ModelSpec] = Field(min_length=1)


@dataclass(frozen=True)
class LLMConfig:
    """All known models, and the default chain (tried in order)."""

    models: dict[str, ModelSpec]
    chain: tuple[ModelSpec, ...]

    def chain_for(self, model_name: str | None) -> tuple[ModelSpec, ...]:
        """The chain with ``model_name`` first; the default chain for ``None``."""
        if not model_name:
            return self.chain
        if model_name not in self.models:
            known = ", ".join(sorted(self.models)) or "none"
            raise LLMConfigError("llm_model", f"unknown model {model_name!r}; known models: {known}")
        first = self.models[model_name]
        return (first, *(m for m in self.chain if m.name != model_name))

    @property
    def is_offline(self) -> bool:
        return all(m.is_offline for m in self.chain)


def _loc(prefix: str, loc: tuple[object, ...]) -> str:
    out = prefix
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _read_file(path: Path) -> Mapping[str, object]:
    field = f"PLANEXE_LLM_CONFIG ({path})"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LLMConfigError(field, f"cannot read the file: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise LLMConfigError(
            field, f"not valid {'TOML' if path.suffix == '.toml' else 'JSON'}: {exc}"
        ) from exc
    if not isinstance(data, dict):
        raise LLMConfigError(field, "the top level must be an object with a 'models' list")
    return data


def _parse_models(data: Mapping[str, object], source: str) -> list[ModelSpec]:
    raw_models = data.get("models")
    if isinstance(raw_models, list):
        for index, entry in enumerate(raw_models):
            if isinstance(entry, dict) and "api_key" in entry:
                raise LLMConfigError(
                    f"{source}.models[{index}].api_key",
                    "keys do not belong in the config file: put the key in an environment variable "
                    "and name that variable in api_key_env",
                )
    try:
        parsed = _ConfigFile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise LLMConfigError(_loc(source, tuple(err["loc"])), err["msg"]) from exc
    names = [m.name for m in parsed.models]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise LLMConfigError(f"{source}.models", f"duplicate model name(s): {', '.join(dupes)}")
    return parsed.models


def _resolve_key(spec: ModelSpec, index: int, source: str, env: Mapping[str, str]) -> ModelSpec:
    if spec.is_offline or not spec.api_key_env:
        return spec
    key = env.get(spec.api_key_env)
    if not key:
        raise LLMConfigError(
            f"{source}.models[{index}].api_key_env",
            f"environment variable {spec.api_key_env} (API key for model {spec.name!r}) is not set",
        )
    register_secret(key)
    return spec.model_copy(update={"api_key": key})


def load_llm_config(settings: Settings, env: Mapping[str, str] | None = None) -> LLMConfig:
    """Build the model chain from settings; raises ``LLMConfigError`` on any problem."""
    env = os.environ if env is None else env
    models: list[ModelSpec] = []
    if settings.llm_config is not None:
        source = "PLANEXE_LLM_CONFIG"
        parsed = _parse_models(_read_file(settings.llm_config), source)
        models = [_resolve_key(m, i, source, env) for i, m in enumerate(parsed)]

    first: str | None = None
    if settings.llm_base_url:
        if not settings.llm_model:
            raise LLMConfigError(
                "PLANEXE_LLM_MODEL", "required with PLANEXE_LLM_BASE_URL (the model id to ask for)"
            )
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        register_secret(key)
        try:
            env_model = ModelSpec(
                name="env",
                provider="openai",
                model=settings.llm_model,
                base_url=settings.llm_base_url,
                timeout_s=settings.llm_timeout_s,
                context_window=settings.llm_context_window,
                priority=-1,
                api_key=key,
                max_in_flight=settings.llm_max_in_flight,
                requests_per_minute=settings.llm_requests_per_minute,
                tokens_per_minute=settings.llm_tokens_per_minute,
            )
        except ValidationError as exc:
            raise LLMConfigError("PLANEXE_LLM_BASE_URL", exc.errors()[0]["msg"]) from exc
        models = [m for m in models if m.name != "env"] + [env_model]
        first = "env"
    elif settings.llm_model:
        first = settings.llm_model
        if first == OFFLINE_MODEL_NAME:
            pass
        elif not models:
            raise LLMConfigError(
                "PLANEXE_LLM_MODEL",
                f"names model {first!r}, but neither PLANEXE_LLM_CONFIG nor PLANEXE_LLM_BASE_URL is set",
            )

    by_name = {m.name: m for m in models}
    by_name.setdefault(OFFLINE_MODEL_NAME, OFFLINE_MODEL)
    # The offline model is only in the default chain when nothing else is configured:
    # silently falling back from a real model to templates would pass off filler as a plan.
    chain_models = sorted(models, key=lambda m: m.priority) or [OFFLINE_MODEL]
    config = LLMConfig(models=by_name, chain=tuple(chain_models))
    if first:
        try:
            config = LLMConfig(models=by_name, chain=config.chain_for(first))
        except LLMConfigError as exc:
            raise LLMConfigError("PLANEXE_LLM_MODEL", exc.problem) from exc
    return config


def default_concurrency(chain: Sequence[ModelSpec]) -> int:
    """Calls in flight per task for this model chain when the setting is unset (its first model decides)."""
    return LOCAL_CONCURRENCY if chain and chain[0].provider in LOCAL_PROVIDERS else HOSTED_CONCURRENCY


def max_concurrent_llm(settings: Settings, chain: Sequence[ModelSpec]) -> int:
    return settings.max_concurrent_llm or default_concurrency(chain)
