"""The tools over Streamable HTTP against a real service and the test LLM server: discover, make a
plan and read it, idempotency, errors, stop and resume, a failure's diagnosis, retry."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator

import anyio
import pytest
from mcphelpers import Progress, mcp_tools

from planexe.plan.dag import ALL_TASKS
from planexe.plan.final import SECTIONS
from planexe.testing.llm_server import LLMServer, llm_server
from planexe.testing.service import Service
from planexe_api.mcp.tools import TOOLS

UPSTREAM_NAMES = {  # upstream PlanExe's tools that PlanExe keeps by name and meaning
    "prompt_examples",
    "plan_create",
    "plan_status",
    "plan_stop",
    "plan_resume",
    "plan_retry",
    "plan_list",
    "plan_file_info",
}


@pytest.fixture(scope="module")
def llm() -> Iterator[LLMServer]:
    with llm_server(seed=11) as server:
        yield server


@pytest.fixture(scope="module")
def svc(start_service: Callable[..., Service], llm: LLMServer) -> Service:
    return start_service(
        "mcp-llm",
        PLANEXE_LLM_BASE_URL=llm.base_url,
        PLANEXE_LLM_MODEL="test-model",
        PLANEXE_LLM_TIMEOUT_S="5",
        PLANEXE_LLM_MAX_ATTEMPTS="1",
    )


def test_an_agent_discovers_the_tools(svc: Service) -> None:
    async def main() -> None:
        async with mcp_tools(svc.base_url) as tools:
            listed = (await tools.client.list_tools()).tools
            assert tools.client.instructions and "plan_create" in tools.client.instructions
        by_name = {t.name: t for t in listed}
        assert (
            set(by_name)
            == {t.name for t in TOOLS}
            >= UPSTREAM_NAMES | {"plan_wait", "plan_files", "plan_report"}
        )
        for tool in listed:
            assert len(tool.description or "") > 80, tool.name
            assert tool.input_schema["type"] == "object" and "$defs" not in tool.input_schema
            assert tool.output_schema and tool.output_schema["type"] == "object"
            assert tool.annotations is not None and tool.annotations.read_only_hint is not None
        create = by_name["plan_create"].input_schema
        assert create["required"] == ["prompt"]
        assert create["properties"]["detail"]["enum"] == ["full", "fast"]
        key = create["properties"]["idempotency_key"]
        assert (key["type"], key["maxLength"], "anyOf" in key) == ("string", 200, False)
        assert by_name["plan_status"].annotations.read_only_hint is True
        assert by_name["plan_stop"].annotations.destructive_hint is True

    anyio.run(main)


def test_make_a_plan_wait_for_it_and_read_it(svc: Service) -> None:
    progress = Progress()

    async def main() -> None:
        async with mcp_tools(svc.base_url) as tools:
            examples = await tools.ok("prompt_examples")
            assert len(examples["samples"]) >= 3 and "plan_create" in examples["message"]
            created = await tools.ok(
                "plan_create", {"prompt": "Open a small bakery in Aarhus", "detail": "fast"}
            )
            assert (created["status"], created["created"], created["reused"]) == ("queued", True, None)
            assert created["links"]["self"] == f"{svc.base_url}/plans/{created['id']}"
            plan_id = created["id"]
            waited = await tools.ok(
                "plan_wait", {"plan_id": plan_id, "timeout_s": 120}, progress_callback=progress
            )
            status = await tools.ok("plan_status", {"plan_id": plan_id})
            files = await tools.ok("plan_files", {"plan_id": plan_id, "name": "swot.json"})
            info = await tools.ok("plan_file_info", {"plan_id": plan_id})
            markdown = await tools.ok("plan_report", {"plan_id": plan_id})
            text = await tools.ok("plan_report", {"plan_id": plan_id, "format": "text"})
            pages, offset = [], 0
            while offset is not None:
                page = await tools.ok(
                    "plan_report", {"plan_id": plan_id, "offset": offset, "max_chars": 40_000}
                )
                pages.append(page["content"])
                offset = page["next_offset"]
            return waited, status, files, info, markdown, text, "".join(pages)

    waited, status, files, info, markdown, text, paged = anyio.run(main)
    assert (waited["outcome"], waited["status"]) == ("finished", "completed"), waited
    # Progress notifications arrived, tasks done only ever growing, ending at all of them.
    done = [p for p, _, _ in progress.seen]
    assert done == sorted(set(done)) and done[-1] == len(ALL_TASKS), progress.seen
    assert status["progress"]["done"] == status["progress"]["total"] == len(ALL_TASKS)
    usage = status["llm_usage"]
    assert usage["calls"] > 0 and [m["model"] for m in usage["by_model"]] == ["test-model"]
    assert status["diagnosis"] is None and "plan_report" in status["next_step"]
    # The REST twin says the same.
    rest = svc.plan(waited["id"])
    assert {k: status[k] for k in ("status", "progress", "llm_usage", "attempt")} == {
        k: rest[k] for k in ("status", "progress", "llm_usage", "attempt")
    }

    names = {f["name"] for f in files["files"]}
    assert names >= {cls.output_filename() for cls in ALL_TASKS} | {"report.html"}
    swot = next(f for f in files["files"] if f["name"] == "swot.json")
    download = svc.http.get(swot["url"])
    assert download.status_code == 200 and swot["url"].startswith(svc.base_url)
    assert json.loads(files["file"]["content"]) == download.json()
    assert files["file"]["truncated"] is False and files["file"]["size"] == swot["size"]

    assert info["ready"] is True and info["content_type"].startswith("text/html")
    report = svc.http.get(info["download_url"])
    assert hashlib.sha256(report.content).hexdigest() == info["sha256"]
    assert info["download_size"] == len(report.content)

    assert markdown["report_url"] == info["download_url"]
    # Paging with offset reads the whole report, which has every section as a heading.
    assert len(paged) == markdown["total_chars"] and paged.startswith(markdown["content"])
    assert markdown["truncated"] and markdown["next_offset"] == len(markdown["content"])
    headings = [line for line in paged.splitlines() if line.startswith("## ")]
    for cls in SECTIONS:
        assert any(h.endswith(f". {cls.heading()}") for h in headings), cls.heading()
    assert "| --- |" in paged and "<section" not in paged
    assert "## " not in text["content"] and "=====" in text["content"]


def test_one_key_gives_one_plan_and_identical_creates_are_folded(svc: Service) -> None:
    async def main() -> tuple[dict, ...]:
        async with mcp_tools(svc.base_url) as tools:
            args = {"prompt": "Start a rooftop beehive cooperative in Lyon", "idempotency_key": "k-1"}
            first = await tools.ok("plan_create", args)
            again = await tools.ok("plan_create", args)
            clash = await tools.error("plan_create", {**args, "prompt": "Something else entirely"})
            no_key = {"prompt": "Map the hiking trails of the Faroe Islands", "detail": "fast"}
            twin_a = await tools.ok("plan_create", no_key)
            twin_b = await tools.ok("plan_create", no_key)
            fresh = await tools.ok("plan_create", {**no_key, "idempotency_key": "on-purpose"})
            return first, again, clash, twin_a, twin_b, fresh

    first, again, clash, twin_a, twin_b, fresh = anyio.run(main)
    assert again["id"] == first["id"] and (again["created"], again["reused"]) == (False, "idempotency_key")
    rest_clash = svc.http.post(
        "/plans", json={"prompt": "Something else entirely"}, headers={"Idempotency-Key": "k-1"}
    ).json()
    assert clash == rest_clash and clash["code"] == "idempotency_key_reused"
    assert twin_b["id"] == twin_a["id"] and twin_b["reused"] == "identical_request"
    assert fresh["id"] != twin_a["id"] and fresh["created"] is True
    prompts = [p["prompt"] for p in svc.http.get("/plans", params={"limit": 100}).json()["items"]]
    assert prompts.count("Start a rooftop beehive cooperative in Lyon") == 1
    assert prompts.count("Map the hiking trails of the Faroe Islands") == 2


def test_bad_input_is_a_tool_error_with_the_api_code_and_the_session_goes_on(svc: Service) -> None:
    async def main() -> dict[str, dict]:
        # A client on the 2025 handshake protocol, as most desktop clients still are.
        async with mcp_tools(svc.base_url, mode="legacy") as tools:
            errors = {
                "empty_prompt": await tools.error("plan_create", {"prompt": "   "}),
                "extra_field": await tools.error("plan_create", {"prompt": "x y", "colour": "red"}),
                "bad_type": await tools.error("plan_list", {"limit": "many"}),
                "limit": await tools.error("plan_list", {"limit": 1000}),
                "cursor": await tools.error("plan_list", {"cursor": "not-a-cursor"}),
                "missing_id": await tools.error("plan_status", {}),
                "unknown_plan": await tools.error("plan_status", {"plan_id": "no-such-plan"}),
                "unknown_model": await tools.error("plan_create", {"prompt": "x y", "llm_model": "gpt-9"}),
                "unknown_tool": await tools.error("plan_delete", {"plan_id": "x"}),
                "nul_prompt": await tools.error("plan_create", {"prompt": "x\x00y"}),
                "nul_key": await tools.error("plan_create", {"prompt": "x y", "idempotency_key": "k\x00"}),
                "empty_key": await tools.error("plan_create", {"prompt": "x y", "idempotency_key": " "}),
            }
            plan_id = (await tools.ok("plan_list", {"limit": 1}))["items"][0]["id"]
            errors["bad_name"] = await tools.error("plan_files", {"plan_id": plan_id, "name": "../x"})
            errors["no_file"] = await tools.error("plan_files", {"plan_id": plan_id, "name": "nothing.json"})
            # Still the same session, still answering.
            assert len((await tools.client.list_tools()).tools) == len(TOOLS)
            return errors

    errors = anyio.run(main)
    assert {name: e["code"] for name, e in errors.items()} == {
        "empty_prompt": "invalid_request",
        "extra_field": "invalid_request",
        "bad_type": "invalid_request",
        "limit": "invalid_request",
        "cursor": "invalid_cursor",
        "missing_id": "invalid_request",
        "unknown_plan": "plan_not_found",
        "bad_name": "invalid_file_name",
        "unknown_model": "unknown_model",
        "unknown_tool": "unknown_tool",
        "no_file": "file_not_found",
        "nul_prompt": "invalid_request",
        "nul_key": "invalid_request",
        "empty_key": "invalid_idempotency_key",
    }
    assert errors["nul_key"]["message"].startswith("idempotency_key: ")
    # Same words as the REST API.
    assert errors["empty_prompt"] == svc.http.post("/plans", json={"prompt": "   "}).json()
    assert errors["extra_field"]["message"] == "colour: unknown field; remove it"
    assert errors["unknown_plan"] == svc.http.get("/plans/no-such-plan").json()
    assert errors["cursor"] == svc.http.get("/plans", params={"cursor": "not-a-cursor"}).json()
    assert (
        errors["unknown_model"]
        == svc.http.post("/plans", json={"prompt": "x y", "llm_model": "gpt-9"}).json()
    )
    assert errors["missing_id"]["message"] == "plan_id: required"


def test_stop_a_running_plan_then_resume_it(svc: Service, llm: LLMServer) -> None:
    llm.configure(latency="fixed:0.2")

    async def main() -> tuple[dict, ...]:
        async with mcp_tools(svc.base_url) as tools:
            plan_id = (
                await tools.ok(
                    "plan_create", {"prompt": "Build a ferry terminal in Tromsø", "detail": "fast"}
                )
            )["id"]
            step = {"status": "queued", "progress": {"done": 0}}
            while step["progress"]["done"] < 3:
                step = await tools.ok("plan_wait", {"plan_id": plan_id, "until": "progress", "timeout_s": 60})
                assert step["outcome"] == "progress" and step["status"] == "running", step
            stopped = await tools.ok("plan_stop", {"plan_id": plan_id})
            cancelled = await tools.ok("plan_wait", {"plan_id": plan_id, "timeout_s": 30})
            again = await tools.ok("plan_stop", {"plan_id": plan_id})
            llm.configure(latency="fixed:0")
            resumed = await tools.ok("plan_resume", {"plan_id": plan_id})
            finished = await tools.ok("plan_wait", {"plan_id": plan_id, "timeout_s": 120})
            return step, stopped, cancelled, again, resumed, finished

    try:
        step, stopped, cancelled, again, resumed, finished = anyio.run(main)
    finally:
        llm.configure(latency="fixed:0")
    assert stopped["stop_requested"] is True and stopped["cancel_requested"] is True
    assert stopped["status"] in ("running", "cancelled")
    assert (cancelled["status"], cancelled["outcome"]) == ("cancelled", "finished")
    assert cancelled["diagnosis"]["recoverable"] is True and "plan_resume" in cancelled["next_step"]
    assert again["stop_requested"] is False and again["status"] == "cancelled"
    assert resumed["status"] == "queued" and resumed["diagnosis"] is None
    assert finished["status"] == "completed", finished
    assert finished["progress"]["done"] == len(ALL_TASKS)
    # The resumed run did not redo the tasks the first run had finished.
    events = [e["data"] for e in svc.events(step["id"]) if e["event"] != "end"]
    second = max(i for i, e in enumerate(events) if e["kind"] == "run_started")
    done_first = {e["task"] for e in events[:second] if e["kind"] == "task_succeeded"}
    started_second = {e["task"] for e in events[second:] if e["kind"] == "task_started"}
    assert len(done_first) >= 3 and started_second and started_second.isdisjoint(done_first)


def test_a_failed_plan_says_why_and_resume_or_retry_fixes_it(svc: Service, llm: LLMServer) -> None:
    llm.configure(rate_500=1.0)

    async def main() -> tuple[dict, ...]:
        async with mcp_tools(svc.base_url) as tools:
            created = await tools.ok(
                "plan_create", {"prompt": "Restore a watermill in Friesland", "detail": "fast"}
            )
            plan_id = created["id"]
            failed = await tools.ok("plan_wait", {"plan_id": plan_id, "timeout_s": 120})
            status = await tools.ok("plan_status", {"plan_id": plan_id})
            rest = await anyio.to_thread.run_sync(svc.plan, plan_id)
            llm.configure(rate_500=0.0)
            retried = await tools.ok("plan_retry", {"plan_id": plan_id, "idempotency_key": "retry-1"})
            retried_again = await tools.ok("plan_retry", {"plan_id": plan_id, "idempotency_key": "retry-1"})
            resumed = await tools.ok("plan_resume", {"plan_id": plan_id})
            done = await tools.ok("plan_wait", {"plan_id": plan_id, "timeout_s": 120})
            fresh = await tools.ok("plan_wait", {"plan_id": retried["id"], "timeout_s": 120})
            errors = {
                "resume_completed": await tools.error("plan_resume", {"plan_id": plan_id}),
                "retry_completed": await tools.error("plan_retry", {"plan_id": plan_id}),
                "report_ready": await tools.ok("plan_file_info", {"plan_id": plan_id}),
            }
            return failed, status, rest, retried, retried_again, resumed, done, fresh, errors

    try:
        failed, status, rest, retried, retried_again, resumed, done, fresh, errors = anyio.run(main)
    finally:
        llm.configure(rate_500=0.0)
    assert (failed["status"], failed["outcome"]) == ("failed", "finished")
    assert status["error"]["code"] == "task_failed" and status["error"]["failed_task"]
    diagnosis = status["diagnosis"]
    assert diagnosis["failed_task"] == status["error"]["failed_task"]
    assert "HTTP 500" in diagnosis["reason"] and diagnosis["recoverable"] is True
    assert "plan_resume" in diagnosis["remedy"] and status["next_step"] == diagnosis["remedy"]
    # Everything else is the REST answer, field for field.
    extra = ("links", "diagnosis", "next_step")
    assert {k: v for k, v in status.items() if k not in extra} == {
        k: v for k, v in rest.items() if k != "links"
    }
    # plan_retry is a new plan from the same prompt; the same key gives it again.
    assert retried["retry_of"] == status["id"] and retried["id"] != status["id"] and retried["created"]
    assert retried["prompt"] == status["prompt"] and retried["detail"] == "fast"
    assert retried_again["id"] == retried["id"] and retried_again["reused"] == "idempotency_key"
    assert resumed["status"] == "queued"
    assert done["status"] == "completed" and fresh["status"] == "completed"
    assert errors["resume_completed"]["code"] == "not_resumable"
    assert errors["retry_completed"]["code"] == "not_retryable"
    assert errors["report_ready"]["ready"] is True


def test_a_refused_plan_is_diagnosed_as_final(svc: Service) -> None:
    from planexe.llm.stand_in import REFUSE_MARKER

    async def main() -> tuple[dict, ...]:
        async with mcp_tools(svc.base_url) as tools:
            prompt = f"Smuggle weapons across a border {REFUSE_MARKER}"
            created = await tools.ok("plan_create", {"prompt": prompt, "detail": "fast"})
            plan_id = created["id"]
            done = await tools.ok("plan_wait", {"plan_id": plan_id, "timeout_s": 120})
            report = await tools.ok("plan_report", {"plan_id": plan_id, "format": "text"})
            info = await tools.ok("plan_file_info", {"plan_id": plan_id})
            resume = await tools.error("plan_resume", {"plan_id": plan_id})
            retry = await tools.error("plan_retry", {"plan_id": plan_id})
            return done, report, info, resume, retry

    done, report, info, resume, retry = anyio.run(main)
    assert (done["status"], done["outcome"]) == ("refused", "finished")
    diagnosis = done["diagnosis"]
    assert diagnosis["recoverable"] is False and diagnosis["failed_task"] is None
    assert "will not plan" in diagnosis["reason"] and "plan_report" in diagnosis["remedy"]
    assert done["next_step"] == diagnosis["remedy"] and done["llm_usage"]["calls"] == 1
    assert "Request declined" in report["content"] and info["ready"] is True
    assert resume["code"] == "not_resumable" and "refused" in resume["message"]
    assert retry["code"] == "not_retryable"
