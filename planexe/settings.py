"""All PlanExe settings, read from ``PLANEXE_*`` environment variables.

One class serves the pipeline and the service: the pipeline (``planexe``) may not
import the service package, and the service reads the same variables it hands
down to its children, so a second class would only be a second place to drift.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    max_concurrent_llm: int = Field(
        default=4, ge=1, le=256, description="LLM calls in flight at once within one pipeline task."
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

    # Logging
    log_format: Literal["auto", "console", "json"] = Field(
        default="auto", description="auto: console on a terminal, JSON otherwise."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Lowest level that is logged."
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests call ``get_settings.cache_clear()`` after changing the env."""
    return Settings()
