from __future__ import annotations

import pytest

from planexe.pipeline.workers import resolve_workers


@pytest.mark.parametrize(
    ("cli", "env", "count", "source", "warning_fragments"),
    [
        (None, {}, 10, "fallback", []),  # unset is the normal case: quiet
        (None, {"LUIGI_WORKERS": "ten"}, 10, "fallback", ["'ten' is not a whole number"]),
        (None, {"LUIGI_WORKERS": "0"}, 10, "fallback", ["'0' is not a whole number"]),
        (None, {"LUIGI_WORKERS": " 4 "}, 4, "env", ["workers=4 (from env) differs"]),
        (None, {"LUIGI_WORKERS": "10"}, 10, "env", []),
        (4, {"LUIGI_WORKERS": "10"}, 4, "cli", ["workers=4 (from cli) differs"]),
        (10, {"LUIGI_WORKERS": "4"}, 10, "cli", []),
        (0, {"LUIGI_WORKERS": "10"}, 10, "env", ["--workers 0 is outside"]),
        (99, {}, 10, "fallback", ["--workers 99 is outside"]),
    ],
)
def test_precedence_and_warnings(
    cli: int | None, env: dict[str, str], count: int, source: str, warning_fragments: list[str]
) -> None:
    choice = resolve_workers(cli, env)
    assert (choice.count, choice.source) == (count, source)
    assert len(choice.warnings) == len(warning_fragments)
    for fragment, warning in zip(warning_fragments, choice.warnings, strict=True):
        assert fragment in warning
