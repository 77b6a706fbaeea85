"""One representation of a plan (issue 13): the same usage by model in every answer, the run
number its events carry, plan_cancelled however it was cancelled, models named by their id.

A real service with real pipeline children against the stand-in LLM server, configured the
way a new user does it (PLANEXE_LLM_BASE_URL + PLANEXE_LLM_MODEL), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from planexe.testing.llm_server import LLMServer, llm_server
from planexe.testing.service import Service

MODEL_ID = "openai/gpt-4o-mini"


@pytest.fixture(scope="module")
def llm() -> Iterator[LLMServer]:
    with llm_server(seed=13) as server:
        server.configure(latency="fixed:0.2")  # slow enough to cancel a plan in the middle
        yield server


def wait_until(check: Any, what: str, timeout: float = 120) -> Any:
    """Poll ``check()`` until it returns something truthy (a safety net, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def listed(svc: Service, plan_id: str) -> dict[str, Any]:
    items = svc.http.get("/plans", params={"limit": 100}).json()["items"]
    return next(p for p in items if p["id"] == plan_id)


def test_a_plan_reads_the_same_everywhere_through_cancel_and_resume(make_service, llm: LLMServer) -> None:
    svc = make_service(
        PLANEXE_LLM_BASE_URL=llm.base_url, PLANEXE_LLM_MODEL=MODEL_ID, PLANEXE_LLM_TIMEOUT_S="5"
    )
    plan_id = svc.submit()["id"]
    wait_until(lambda: svc.plan(plan_id)["llm_usage"]["by_model"], "the first LLM calls to be stored")

    cancelled = svc.http.post(f"/plans/{plan_id}/cancel").json()
    assert cancelled["status"] == "running" and cancelled["cancel_requested"]
    # Usage by model in the cancel answer, as in GET: the model by its id, not its entry "env".
    assert [m["model"] for m in cancelled["llm_usage"]["by_model"]] == [MODEL_ID]
    stopped = svc.wait_status(plan_id)
    assert stopped["status"] == "cancelled"

    # Now that nothing changes: the list, the plan and the resume answer agree on the usage.
    usage = stopped["llm_usage"]
    assert usage["by_model"][0]["calls"] == usage["calls"] > 0
    assert listed(svc, plan_id)["llm_usage"] == usage
    assert svc.http.get(f"/plans/{plan_id}").json()["llm_usage"] == usage

    kinds = [e["event"] for e in svc.events(plan_id)]
    # A running plan that is cancelled says so, as a queued one does.
    assert kinds.count("plan_cancelled") == 1
    assert kinds.index("plan_cancel_requested") < kinds.index("plan_cancelled") < kinds.index("plan_finished")
    assert kinds[-1] == "end"

    resumed = svc.http.post(f"/plans/{plan_id}/resume").json()
    assert resumed["status"] == "queued" and resumed["llm_usage"] == usage
    done = svc.wait_status(plan_id)
    assert done["status"] == "completed", done
    assert listed(svc, plan_id)["llm_usage"] == done["llm_usage"]

    events = svc.events(plan_id)
    runs = [e["data"]["attempt"] for e in events if e["event"] == "run_started"]
    # Two runs; the plan's run number is the one its last run's events carry. attempt counts
    # the runs since it was resumed.
    assert runs == [1, 2]
    assert (done["run"], done["attempt"]) == (2, 1)
    assert cancelled["run"] == 1 and resumed["run"] == 1

    # The model is named by its id everywhere a person reads it.
    started = next(e["data"] for e in events if e["event"] == "run_started")
    assert started["models"] == [MODEL_ID]
    calls = [e["data"] for e in events if e["event"] == "llm_call"]
    assert calls and {c["model"] for c in calls} == {MODEL_ID}
    assert [m["model"] for m in done["llm_usage"]["by_model"]] == [MODEL_ID]
    report = svc.http.get(f"/plans/{plan_id}/report").text
    assert f'title="Model that wrote this section">{MODEL_ID}</span>' in report
    assert ">env<" not in report
    page = svc.http.get(f"/plans/{plan_id}/view").text
    assert MODEL_ID in page and ">env<" not in page
