"""A refused plan's report: one self-contained page with the refusal, its reason, and nothing live."""

from __future__ import annotations

from datetime import UTC, datetime

from planexe.report.refusal import STAND_IN_NOTE, Refusal, render_refusal, render_refusal_markdown

WHEN = datetime(2030, 1, 7, 9, 30, tzinfo=UTC)


def refusal(**fields: object) -> Refusal:
    base = {
        "prompt": "Plan an attack <script>alert(1)</script>",
        "reason": "It plans violence against people.",
        "category": "violence",
        "message": "PlanExe will not plan this: it would hurt people.",
        "offline": False,
        "models": ["openai/gpt-4o-mini"],
    }
    return Refusal(**{**base, **fields})  # type: ignore[arg-type]


def test_the_page_says_why_and_who_decided() -> None:
    html = render_refusal(refusal(), generated_at=WHEN)
    assert html.startswith("<!DOCTYPE html>") and "<title>Request declined</title>" in html
    assert "It plans violence against people." in html and "violence" in html
    assert "PlanExe will not plan this: it would hurt people." in html
    assert "openai/gpt-4o-mini" in html and "7 January 2030, 09:30 UTC" in html
    assert STAND_IN_NOTE not in html
    assert "stand-in" in render_refusal(refusal(offline=True, models=["offline"]), generated_at=WHEN)


def test_text_from_the_request_and_the_model_is_escaped_and_nothing_runs() -> None:
    html = render_refusal(refusal(reason="<img src=x onerror=alert(1)>"), generated_at=WHEN)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert "<img" not in html
    assert "default-src 'none'" in html and "<script" not in html.replace("&lt;script", "")


def test_the_markdown_twin_says_the_same() -> None:
    text = render_refusal_markdown(refusal(), generated_at=WHEN)
    assert text.startswith("# Request declined\n")
    assert "- **Reason:** It plans violence against people." in text
    assert "- **Category:** violence" in text and "PlanExe will not plan this" in text
