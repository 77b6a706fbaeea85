"""Real models through the service: their quirks show in the events and /metrics, and a model
whose context window is too small for PlanExe's prompts is refused at start-up.

The quirks: a fast plan against the stand-in server with fenced, think-block, prose-wrapped,
cut-off and usage-less answers mixed in; the real service, pipeline children and HTTP client.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from planexe.errors import LLMConfigError
from planexe.settings import get_settings
from planexe.testing.llm_server import LLMServer, llm_server
from planexe_api.app import create_app

QUIRKS = {
    "rate_fenced": 0.1,
    "rate_think": 0.1,
    "rate_prose": 0.1,
    "rate_truncated": 0.1,
    "rate_no_usage": 0.1,
}
REPAIR_OF = {"fenced": "code_fence", "think": "think_block", "prose": "prose"}


@pytest.fixture
def llm() -> Iterator[LLMServer]:
    with llm_server(seed=11, **QUIRKS) as server:
        yield server


def metric(text: str, name: str, kind: str) -> float:
    prefix = f'{name}{{kind="{kind}"}} '
    return next((float(line.split()[-1]) for line in text.splitlines() if line.startswith(prefix)), 0.0)


def test_wrapped_cut_off_and_unmetered_answers_show_in_the_events_and_metrics(
    make_service, llm: LLMServer
) -> None:
    svc = make_service(
        PLANEXE_LLM_BASE_URL=llm.base_url,
        PLANEXE_LLM_MODEL="planexe-test",
        PLANEXE_LLM_RETRY_BASE_DELAY_S="0.01",
    )
    created = svc.submit()
    done = svc.wait_status(created["id"], timeout=300)
    assert done["status"] == "completed", done
    injected = llm.stats()["quirks_injected"]
    calls = [e["data"] for e in svc.events(created["id"]) if e["event"] == "llm_call"]

    # Every wrapped answer was taken out of its wrapping and accepted, and says what was removed.
    repairs = Counter(r for c in calls for r in c.get("repairs", []))
    assert repairs == {REPAIR_OF[q]: n for q, n in injected.items() if q in REPAIR_OF and n}
    assert all(c["outcome"] == "ok" for c in calls if c.get("repairs"))
    # Every cut-off answer is its own outcome, and its call was sent again with twice the room.
    truncated = [c for c in calls if c["outcome"] == "truncated"]
    assert len(truncated) == injected["truncated"] > 0
    by_step: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in calls:
        by_step[c["step"]].append(c)
    for cut in truncated:
        attempts = by_step[cut["step"]]
        at = attempts.index(cut)
        before = attempts[at - 1] if at else None
        if before and before["outcome"] == "truncated" and 2 * before["max_tokens"] == cut["max_tokens"]:
            continue  # the retry was cut off too: the call gave up on the model (Luigi retries the step)
        assert attempts[at + 1]["max_tokens"] == 2 * cut["max_tokens"], attempts
    # An answer without usage is counted from its text, and marked as estimated.
    assert sum(1 for c in calls if c.get("usage_estimated")) == injected["no_usage"] > 0
    assert done["llm_usage"]["completion_tokens"] == sum(c["completion_tokens"] for c in calls)

    metrics = svc.http.get("/metrics").text
    assert metric(metrics, "planexe_llm_errors_total", "truncated") == len(truncated)
    for kind, count in repairs.items():
        assert metric(metrics, "planexe_llm_repairs_total", kind) == count


def test_a_context_window_too_small_for_the_prompts_stops_the_service_at_start_up(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "PLANEXE_DATABASE_URL": db_url,
        "PLANEXE_DATA_DIR": str(tmp_path / "data"),
        "PLANEXE_RUNNER": "false",
        "PLANEXE_LLM_BASE_URL": "http://127.0.0.1:9/v1",
        "PLANEXE_LLM_MODEL": "smollm2",
        "PLANEXE_LLM_CONTEXT_WINDOW": "2048",  # one slot of llama.cpp's -c 8192 -np 4
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    app = create_app(get_settings())

    async def start() -> None:
        async with app.router.lifespan_context(app):
            pass

    with pytest.raises(LLMConfigError, match=r"env\.context_window: 2,048 tokens is too small") as err:
        anyio.run(start)
    assert "--ctx" in str(err.value) and "num_ctx" in str(err.value)
