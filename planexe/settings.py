"""All PlanExe settings, read from ``PLANEXE_*`` environment variables.

One class serves the pipeline and the service: the pipeline (``planexe``) may not
import the service package, and the service reads the same variables it hands
down to its children, so a second class would only be a second place to drift.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from planexe.errors import ConfigError
from planexe.settings_errors import describe_settings_error


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PLANEXE_", extra="ignore", validate_default=True)

    # LLM
    llm_config: Path | None = Field(
        default=None,
        description="Path of a JSON file naming the LLM models (see docs/llm-providers.md).",
    )
    llm_base_url: str | None = Field(
        default=None,
        description="Base URL of one OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1.",
    )
    llm_model: str | None = Field(
        default=None,
        description="Model id at PLANEXE_LLM_BASE_URL, or the name of a model in PLANEXE_LLM_CONFIG to put first.",
    )
    llm_api_key: SecretStr | None = Field(
        default=None,
        description="API key for PLANEXE_LLM_BASE_URL. Never logged.",
    )
    llm_timeout_s: float = Field(
        default=120.0, gt=0, le=3600, description="Per-request timeout for PLANEXE_LLM_BASE_URL, seconds."
    )
    llm_context_window: int | None = Field(
        default=None,
        ge=512,
        le=10_000_000,
        description="Context window of PLANEXE_LLM_MODEL in tokens (prompt plus answer), when known; "
        "a window too small for PlanExe's prompts is refused at start-up.",
    )
    max_concurrent_llm: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="LLM calls in flight at once within one pipeline task. Unset: 16, or 4 when the "
        "first model is served on your own machine (ollama, lmstudio, llamacpp).",
    )
    llm_max_attempts: int = Field(
        default=4, ge=1, le=20, description="Attempts per model before moving to the next model."
    )
    llm_retry_base_delay_s: float = Field(
        default=0.5, ge=0, le=60, description="First retry delay; doubles each attempt (with jitter)."
    )
    llm_retry_max_delay_s: float = Field(
        default=20.0, ge=0, le=600, description="Cap on one retry delay, including a server's Retry-After."
    )
    llm_max_in_flight: int | None = Field(
        default=None,
        ge=1,
        le=10_000,
        description="The provider's limit on calls in flight at PLANEXE_LLM_BASE_URL, shared by every "
        "plan (and replica); unset: learnt from its refusals.",
    )
    llm_requests_per_minute: int | None = Field(
        default=None,
        ge=1,
        le=10_000_000,
        description="The provider's limit on requests per minute at PLANEXE_LLM_BASE_URL, shared by every plan.",
    )
    llm_tokens_per_minute: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000_000,
        description="The provider's limit on prompt plus answer tokens per minute at PLANEXE_LLM_BASE_URL, "
        "shared by every plan.",
    )
    llm_rate_limit_patience_s: float = Field(
        default=900,
        gt=0,
        le=86_400,
        description="A call refused as 'too many' (429) waits and is retried without spending its "
        "attempts; it fails only after this long without a single success on that model.",
    )
    llm_permit_socket: Path | None = Field(
        default=None,
        description="Set by the service for its pipeline children: the Unix socket of the runner's "
        "permit broker, which holds the provider limits for all of its plans. Leave it unset.",
    )

    plan_max_cost: float | None = Field(
        default=None,
        gt=0,
        le=1_000_000,
        description="Default budget of a plan in USD: it stops (budget_exceeded) before its LLM calls cost "
        "more, plus the calls in flight. Needs model prices. POST /plans max_cost overrides it.",
    )
    plan_max_tokens: int | None = Field(
        default=None,
        ge=1,
        le=10**12,
        description="Default budget of a plan in LLM tokens (prompt and answer); POST /plans max_tokens "
        "overrides it.",
    )

    # Storage
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; postgresql:// URLs are normalised to the shipped psycopg driver. "
        "Unset: DATABASE_URL (Railway's plugin), then SQLite at <data_dir>/planexe.db.",
    )
    data_dir: Path = Field(default=Path("data"), description="Where the embedded SQLite database lives.")
    runs_dir: Path = Field(
        default=Path("data/runs"), description="One run directory per plan is created here."
    )

    # Service and runner
    api_token: SecretStr | None = Field(
        default=None,
        description="When set, every route but /healthz and /readyz needs 'Authorization: Bearer <token>'.",
    )
    runner: bool = Field(
        default=True, description="false: `planexe serve` only serves the API and runs no plans."
    )
    max_body_bytes: int = Field(
        default=1_048_576,
        ge=65_536,
        le=1_073_741_824,
        description="Largest request body in bytes; a larger one is refused with 413 while it arrives. "
        "The largest legal request (an 8,000-character prompt, every character escaped) is ~100 KB.",
    )
    max_concurrent_plans: int = Field(
        default=2, ge=1, le=256, description="Pipeline children per runner at once."
    )
    max_queued_plans: int = Field(
        default=100, ge=1, le=100_000, description="Past this many queued plans, POST /plans answers 429."
    )
    plan_timeout_s: float = Field(
        default=7200, gt=0, description="A plan still running after this is stopped and failed."
    )
    cancel_grace_s: float = Field(
        default=10, ge=0, le=300, description="SIGTERM to SIGKILL grace for a plan's children."
    )
    max_attempts: int = Field(
        default=3, ge=1, le=20, description="Runs of one plan (restarts included) before it fails."
    )
    recovery_max_age_s: float = Field(
        default=7200, gt=0, description="Interrupted plans older than this are failed instead of resumed."
    )
    retention_days: int | None = Field(
        default=None,
        ge=1,
        le=36_500,
        description="Unset (the default): plans are kept until deleted. N: runners delete completed, failed "
        "and cancelled plans that finished more than N days ago (rows, stored files, run directories).",
    )
    lease_s: float = Field(
        default=30, gt=0, le=3600, description="How long a runner's claim on a plan lasts unrenewed."
    )
    heartbeat_s: float = Field(default=5, gt=0, le=600, description="How often a runner renews its leases.")
    poll_s: float = Field(
        default=0.5, gt=0, le=60, description="How often an idle runner looks for queued plans."
    )
    warm_spare: bool = Field(
        default=False,
        description="Keep one pipeline process per runner started and imported ahead, so a plan's "
        "child skips Python's start and imports; false (the default): start each child fresh.",
    )
    task_isolation: Literal["process", "thread"] = Field(
        default="thread",
        description="How a plan's LLM steps run: thread (threads of the pipeline process; a step past "
        "its worker timeout is cancelled at its next await) or process (Luigi forks one per step and "
        "kills it at its timeout, at ~8x the memory). Code-only steps always run in-process.",
    )
    luigi_scheduler_url: str | None = Field(
        default=None,
        description="URL of a luigid central scheduler; unset: each plan uses Luigi's local scheduler.",
    )

    fault_points: str | None = Field(
        default=None,
        description="Tests only: point[:task][@run],... where a process stops itself with SIGSTOP to "
        "open a crash window on purpose (see planexe/faults.py). Leave unset.",
    )

    # Browsers (planexe_api/security.py, docs/api.md "Browsers and other origins")
    allowed_hosts: str = Field(
        default="",
        description="Host names the service answers for besides localhost, loopback addresses and the "
        "address a request arrived at (comma-separated, any port; *.example.com for subdomains; * for "
        "any): the defence against DNS rebinding. Add the public name when serving beyond this machine. "
        "Railway's RAILWAY_PUBLIC_DOMAIN is added on its own.",
    )
    cors_origins: str = Field(
        default="",
        description="Origins (scheme://host[:port], comma-separated, or *) whose web pages may call the API "
        "from a browser: they get CORS answers and may change plans. Unset: none.",
    )

    # MCP endpoint (/mcp, docs/mcp.md)
    mcp_dedupe_window_s: float = Field(
        default=600,
        ge=0,
        le=86400,
        description="MCP plan_create without an idempotency key returns a plan with the same prompt, "
        "detail and model made this many seconds before (not failed or cancelled) instead of "
        "queueing a copy; 0 turns this off.",
    )

    # Logging
    log_format: Literal["auto", "console", "json"] = Field(
        default="auto", description="auto: console on a terminal, JSON otherwise."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Lowest level that is logged."
    )

    @field_validator("database_url", mode="before")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        value = value or os.environ.get("DATABASE_URL") or None
        if not value:
            return None
        value = normalise_database_url(value)
        check_database_url(value)
        return value

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _allowed_hosts(cls, value: str | None) -> str:
        names = comma_list(value)
        for name in names:
            if name != "*" and not _HOST_PATTERN.fullmatch(name):
                raise ValueError(
                    f"{name!r} is not a host name: give names like planexe.example.com or *.example.com "
                    "(no scheme, path or port), or *"
                )
        # Railway tells each service its public name; clients reach it by that name.
        railway = os.environ.get("RAILWAY_PUBLIC_DOMAIN", "").strip()
        return ",".join([*names, railway] if railway and railway not in names else names)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _cors_origins(cls, value: str | None) -> str:
        origins = comma_list(value)
        for origin in origins:
            if origin != "*" and not _ORIGIN_PATTERN.fullmatch(origin):
                raise ValueError(
                    f"{origin!r} is not an origin: give scheme://host[:port] such as "
                    "http://localhost:3000 (no path, no trailing slash), or *"
                )
        return ",".join(origin.lower() for origin in origins)

    @model_validator(mode="after")
    def _lease_outlives_heartbeats(self) -> Settings:
        if self.lease_s < 2 * self.heartbeat_s:
            raise ValueError(
                f"PLANEXE_LEASE_S ({self.lease_s:g}) must be at least twice PLANEXE_HEARTBEAT_S "
                f"({self.heartbeat_s:g}), or one late heartbeat would lose the lease"
            )
        return self

    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'planexe.db').resolve()}"


# A host name or IP literal, or *.domain; what PLANEXE_ALLOWED_HOSTS may list.
_HOST_PATTERN = re.compile(r"(\*\.)?[a-z0-9_.-]+|\[[0-9a-f:.]+\]|[0-9a-f:.]+", re.IGNORECASE)
_ORIGIN_PATTERN = re.compile(r"https?://([a-z0-9_.-]+|\[[0-9a-f:.]+\])(:[0-9]{1,5})?", re.IGNORECASE)
# Drivers this package ships, by backend.
_DATABASE_SCHEMES = frozenset({"sqlite", "sqlite+pysqlite", "postgresql+psycopg"})


def comma_list(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def normalise_database_url(url: str) -> str:
    """Hosting platforms hand out postgres:// or postgresql://; we ship psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def check_database_url(url: str) -> None:
    """Refuse a URL whose scheme no shipped driver serves (a typo, usually), without echoing it:
    the URL may hold a password."""
    scheme, separator, _ = url.partition("://")
    if not separator or scheme.lower() not in _DATABASE_SCHEMES:
        shown = scheme if separator else "(none)"
        raise ValueError(
            f"the scheme {shown!r} is not one PlanExe can use: give sqlite:///PATH or "
            "postgresql://USER@HOST:PORT/DATABASE"
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests call ``get_settings.cache_clear()`` after changing the env.

    A value that cannot be used raises ConfigError with one line naming the variable
    (``planexe/cli.py`` prints it and exits 3).
    """
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(describe_settings_error(exc, Settings)) from None
