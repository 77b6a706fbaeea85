"""Exceptions raised by the planexe library.

PlanExeError
├── ConfigError                 settings or LLM config that cannot be used
│   ├── LLMConfigError
│   └── CannotStart             a command cannot start here: a port in use, a database that does not answer
├── LLMError                    a language-model call that did not give usable output
│   ├── ProviderError           one attempt against one model failed (see ``kind``)
│   └── AllModelsFailedError    every model in the chain failed; says why for each
└── PipelineError               the plan pipeline could not run
    └── RunDirLockedError

Each class's docstring is its default message.
"""

from __future__ import annotations


class PlanExeError(Exception):
    """PlanExe failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())

    @property
    def message(self) -> str:
        return str(self)


class ConfigError(PlanExeError):
    """The configuration is not valid."""


class LLMConfigError(ConfigError):
    """The LLM configuration is not valid."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"LLM config error in {field}: {problem}")


class CannotStart(ConfigError):
    """The command cannot start with these settings on this machine."""


class LLMError(PlanExeError):
    """The language-model call failed."""


class PipelineError(PlanExeError):
    """The plan pipeline failed."""


class RunDirLockedError(PipelineError):
    """Another process is already running this plan's run directory."""

    def __init__(self, message: str | None = None, holder: str = "") -> None:
        self.holder = holder
        super().__init__(message)
