"""Cost and budgets end to end over HTTP: real service, real pipeline children, the stand-in LLM server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from planexe.errors import LLMConfigError
from planexe.plan.dag import planned_calls
from planexe.settings import get_settings
from planexe.testing.llm_server import LLMServer, llm_server
from planexe_api.app import create_app

PRICES = {"input_usd_per_mtok": 0.15, "output_usd_per_mtok": 0.60}  # gpt-4o-mini's list price
MODEL_ID = "openai/gpt-4o-mini"


@pytest.fixture(scope="module")
def llm() -> Iterator[LLMServer]:
    with llm_server(seed=8) as server:
        yield server


def write_config(tmp_path: Path, base_url: str, **spec: Any) -> Path:
    model = {
        "name": "main",
        "provider": "openrouter",
        "model": MODEL_ID,
        "base_url": base_url,
        "timeout_s": 5,
    }
    path = tmp_path / "models.json"
    path.write_text(json.dumps({"models": [{**model, **spec}]}))
    return path


def llm_calls(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["data"] for e in events if e["event"] == "llm_call"]


def in_flight_calls(calls: list[dict[str, Any]]) -> int:
    """The most attempts that overlapped in time (each ends at its event's ts)."""
    edges = sorted([(c["ts"] - c["duration_s"], 1) for c in calls] + [(c["ts"], -1) for c in calls])
    now = peak = 0
    for _, step in edges:
        now += step
        peak = max(peak, now)
    return peak


# Part of a fast plan against the stand-in (it stops after 10-25 calls), in either kind of limit.
BUDGETS: dict[str, float] = {"max_tokens": 20_000, "max_cost": 0.004}


def spent_on(limit: str, call: dict[str, Any]) -> float:
    """What one attempt counts against a limit of this kind."""
    if limit == "max_cost":
        return float(call["cost_usd"])
    return float(call["prompt_tokens"] + call["completion_tokens"])


@pytest.mark.parametrize("limit", ["max_tokens", "max_cost"])
def test_a_priced_plan_stops_at_its_budget_keeps_its_work_and_resumes_with_a_higher_one(
    make_service, llm: LLMServer, tmp_path: Path, limit: str
) -> None:
    config = write_config(tmp_path, llm.base_url, **PRICES)
    svc = make_service(PLANEXE_LLM_CONFIG=str(config), PLANEXE_LLM_RETRY_BASE_DELAY_S="0.01")
    budget = BUDGETS[limit]
    created = svc.submit(**{limit: budget})
    assert created["budget"] == {"max_cost": None, "max_tokens": None, limit: budget}
    stopped = svc.wait_status(created["id"])
    assert stopped["status"] == "failed" and stopped["error"]["code"] == "budget_exceeded", stopped
    assert "resume it with a higher budget" in stopped["error"]["message"]
    events = svc.events(created["id"])
    calls = llm_calls(events)

    # Cost per call: from the model's prices, the model named by its id and its config entry.
    first = calls[0]
    assert (first["model"], first["model_name"]) == (MODEL_ID, "main")
    assert first["cost_usd"] == pytest.approx(
        (first["prompt_tokens"] * 0.15 + first["completion_tokens"] * 0.60) / 1e6
    )
    cost = sum(c["cost_usd"] for c in calls)
    # Per task: each success event sums its own calls.
    tasks = [e["data"]["llm"] for e in events if e["event"] == "task_succeeded" and "llm" in e["data"]]
    assert tasks and all(t["cost_usd"] > 0 for t in tasks)
    # Per plan: in the status, and in /metrics, by model id.
    usage = stopped["llm_usage"]
    assert usage["cost_usd"] == pytest.approx(cost, abs=1e-6)
    assert [(m["model"], pytest.approx(m["cost_usd"], abs=1e-6)) for m in usage["by_model"]] == [
        (MODEL_ID, cost)
    ]
    metrics = svc.http.get("/metrics").text
    line = next(
        m for m in metrics.splitlines() if m.startswith(f'planexe_llm_cost_usd_total{{model="{MODEL_ID}"}}')
    )
    assert float(line.split()[-1]) == pytest.approx(cost, abs=1e-6)

    # The budget: it stopped once spent, past it by at most the calls already in flight.
    assert usage["prompt_tokens"] + usage["completion_tokens"] == sum(
        spent_on("max_tokens", c) for c in calls
    )
    spent = sum(spent_on(limit, c) for c in calls)
    largest = max(spent_on(limit, c) for c in calls)
    assert budget <= spent <= budget + in_flight_calls(calls) * largest
    kept = {f["name"] for f in svc.http.get(f"/plans/{created['id']}/files").json()}
    assert "identify_purpose.json" in kept and "report.html" not in kept

    # Resuming without more budget would stop again at once: refused, saying what to do.
    refused = svc.http.post(f"/plans/{created['id']}/resume")
    assert refused.status_code == 409 and refused.json()["code"] == "budget_too_low"
    resumed = svc.http.post(f"/plans/{created['id']}/resume", json={limit: 10 * budget})
    assert resumed.status_code == 202 and resumed.json()["budget"][limit] == 10 * budget
    done = svc.wait_status(created["id"])
    assert done["status"] == "completed", done
    all_calls = llm_calls(svc.events(created["id"]))
    paid = [c for c in all_calls if c["outcome"] == "ok" and not c.get("cached")]
    # The finished steps were kept, and so were the answers of the steps the budget cut short
    # (call checkpoints): the two runs paid for each planned call once.
    assert len(paid) == planned_calls("fast")
    total = sum(c.get("cost_usd", 0.0) for c in all_calls)
    assert done["llm_usage"]["cost_usd"] == pytest.approx(total, abs=1e-6)
    report = svc.http.get(f"/plans/{created['id']}/report").text
    assert MODEL_ID in report and " USD" in report


def set_service_env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **extra: str) -> None:
    for name, value in {
        "PLANEXE_DATABASE_URL": db_url,
        "PLANEXE_DATA_DIR": str(tmp_path / "data"),
        "PLANEXE_RUNNER": "false",
        **extra,
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()


def post_plans(bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    """POST /plans once per body, to the in-process app (runner off), through its lifespan."""
    app = create_app(get_settings())

    async def main() -> list[httpx.Response]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
                return [await client.post("/plans", json={"prompt": "Open a bakery", **b}) for b in bodies]

    return anyio.run(main)


def test_a_cost_budget_needs_prices_and_limits_must_be_positive(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9/v1")
    set_service_env(db_url, tmp_path, monkeypatch, PLANEXE_LLM_CONFIG=str(config))

    priced, zero, tokens = post_plans([{"max_cost": 0.5}, {"max_tokens": 0}, {"max_tokens": 50_000}])
    assert priced.status_code == 400 and priced.json()["code"] == "budget_needs_prices"
    assert "input_usd_per_mtok" in priced.json()["message"]
    assert zero.status_code == 422
    assert tokens.status_code == 202 and tokens.json()["budget"] == {"max_cost": None, "max_tokens": 50_000}


def test_the_default_budget_applies_to_plans_that_ask_for_none(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9/v1", **PRICES)
    set_service_env(
        db_url, tmp_path, monkeypatch, PLANEXE_LLM_CONFIG=str(config), PLANEXE_PLAN_MAX_COST="0.25"
    )

    default, own = post_plans([{}, {"max_cost": 1.0, "max_tokens": 9_000}])

    assert default.status_code == 202 and default.json()["budget"] == {"max_cost": 0.25, "max_tokens": None}
    assert own.status_code == 202 and own.json()["budget"] == {"max_cost": 1.0, "max_tokens": 9_000}


def test_a_default_cost_budget_without_prices_stops_the_service_at_start_up(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9/v1")  # no prices
    set_service_env(
        db_url, tmp_path, monkeypatch, PLANEXE_LLM_CONFIG=str(config), PLANEXE_PLAN_MAX_COST="0.25"
    )
    with pytest.raises(LLMConfigError, match="PLANEXE_PLAN_MAX_COST: needs prices for every model; main"):
        post_plans([])  # the lifespan refuses before the app serves a request
