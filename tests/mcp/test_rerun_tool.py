"""plan_rerun and plan_files' versions over Streamable HTTP, against a real service and LLM server."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import anyio
import pytest
from mcphelpers import mcp_tools

from planexe.plan.dag import ALL_TASKS
from planexe.testing.llm_server import LLMServer, llm_server
from planexe.testing.service import Service

TASKS = {cls.step_name(): cls for cls in ALL_TASKS}
FEEDBACK = "Aim the pitch at local cafés."


@pytest.fixture(scope="module")
def llm() -> Iterator[LLMServer]:
    with llm_server(seed=13, record_requests=200) as server:
        yield server


@pytest.fixture(scope="module")
def svc(start_service: Callable[..., Service], llm: LLMServer) -> Service:
    return start_service(
        "mcp-rerun",
        PLANEXE_LLM_BASE_URL=llm.base_url,
        PLANEXE_LLM_MODEL="test-model",
        PLANEXE_LLM_TIMEOUT_S="5",
    )


def test_an_agent_regenerates_a_section_and_reads_the_earlier_version(svc: Service, llm: LLMServer) -> None:
    async def main() -> tuple[dict, ...]:
        async with mcp_tools(svc.base_url) as tools:
            plan_id = (
                await tools.ok("plan_create", {"prompt": "Open a bakery in Aarhus", "detail": "fast"})
            )["id"]
            await tools.ok("plan_wait", {"plan_id": plan_id, "timeout_s": 120})
            before = await tools.ok("plan_files", {"plan_id": plan_id, "name": "pitch.json"})
            await anyio.to_thread.run_sync(llm.reset_stats)
            unknown = await tools.error("plan_rerun", {"plan_id": plan_id, "tasks": ["the_pitch"]})
            empty = await tools.error("plan_rerun", {"plan_id": plan_id, "tasks": []})
            rerun = await tools.ok(
                "plan_rerun", {"plan_id": plan_id, "tasks": ["pitch"], "feedback": FEEDBACK}
            )
            busy = await tools.error("plan_rerun", {"plan_id": plan_id, "tasks": ["pitch"]})
            done = await tools.ok("plan_wait", {"plan_id": plan_id, "timeout_s": 120})
            listed = await tools.ok("plan_files", {"plan_id": plan_id, "versions": True})
            old = await tools.ok("plan_files", {"plan_id": plan_id, "name": "pitch.json", "version": 1})
            new = await tools.ok("plan_files", {"plan_id": plan_id, "name": "pitch.json"})
            return plan_id, before, unknown, empty, rerun, busy, done, listed, old, new

    plan_id, before, unknown, empty, rerun, busy, done, listed, old, new = anyio.run(main)
    assert unknown["code"] == "unknown_task" and unknown["unknown_tasks"] == ["the_pitch"]
    rest = svc.http.post(f"/plans/{plan_id}/rerun", json={"tasks": ["the_pitch"]}).json()
    assert unknown == rest and "pitch" in unknown["valid_tasks"]
    assert empty["code"] == "invalid_request"
    assert (rerun["status"], rerun["tasks"], rerun["requested"]) == ("queued", ["pitch", "report"], ["pitch"])
    assert (
        rerun["llm_calls_planned"] == TASKS["pitch"].planned_calls("fast") and rerun["feedback"] == FEEDBACK
    )
    assert rerun["links"]["self"] == f"{svc.base_url}/plans/{plan_id}"
    assert busy["code"] == "not_rerunnable"
    assert done["status"] == "completed", done
    # The pitch's one call was made again, with the feedback; nothing else was asked.
    prompts = [" ".join(m["content"] for m in r["messages"]) for r in llm.requests()]
    assert len(prompts) == TASKS["pitch"].planned_calls("fast") and all(FEEDBACK in p for p in prompts)
    earlier = [(f["name"], f["version"]) for f in listed["files"] if not f["current"]]
    assert earlier == [("pitch.json", 1), ("report.html", 1), ("report.json", 1)]
    assert old["file"]["content"] == before["file"]["content"] != new["file"]["content"]
    assert json.loads(new["file"]["content"])["rerun"] == {"generation": 1, "feedback": FEEDBACK}
    [event] = [e["data"] for e in svc.events(plan_id) if e["event"] == "plan_rerun"]
    assert event["requested_by"]["via"] == "mcp" and event["feedback"] == FEEDBACK
