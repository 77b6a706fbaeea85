"""With a token: nothing works without it. Waits hold no threads. ``planexe mcp`` over stdio."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import anyio
import httpx
import psutil
import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError
from mcphelpers import TOKEN, Progress, Tools, mcp_tools

from planexe.testing.service import Service, free_port
from planexe_api.mcp.tools import TOOLS

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def svc(start_service: Callable[..., Service]) -> Service:
    # No runner: plans stay queued, so waits run to their timeout.
    return start_service("mcp-auth", PLANEXE_API_TOKEN=TOKEN, PLANEXE_RUNNER="false")


def test_without_the_token_nothing_gets_through(svc: Service) -> None:
    bare = httpx.post(f"{svc.base_url}/mcp", json=INITIALIZE, headers=MCP_HEADERS)
    assert bare.status_code == 401 and bare.json()["code"] == "unauthorized"
    wrong = httpx.post(
        f"{svc.base_url}/mcp", json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401

    async def connect(token: str | None) -> int:
        async with mcp_tools(svc.base_url, token) as tools:
            return len((await tools.client.list_tools()).tools)

    for token in (None, "nope"):
        with pytest.raises(Exception) as caught:  # the SDK wraps the 401 in task-group errors
            anyio.run(connect, token)
        assert MCPError in _leaf_types(caught.value)
    assert anyio.run(connect, TOKEN) == len(TOOLS)


def test_another_host_or_origin_is_refused(svc: Service) -> None:
    auth = {**MCP_HEADERS, "Authorization": f"Bearer {TOKEN}"}
    ok = httpx.post(f"{svc.base_url}/mcp", json=INITIALIZE, headers=auth)
    assert ok.status_code == 200
    # The service's own Host rule and cross-site rule (security.py) cover /mcp.
    rebound = httpx.post(f"{svc.base_url}/mcp", json=INITIALIZE, headers={**auth, "Host": "evil.example:80"})
    assert rebound.status_code == 400 and rebound.json()["code"] == "invalid_host"
    foreign = httpx.post(
        f"{svc.base_url}/mcp", json=INITIALIZE, headers={**auth, "Origin": "http://evil.example"}
    )
    assert foreign.status_code == 403 and foreign.json()["code"] == "cross_site_request"


def test_many_waits_hold_no_thread_and_end_at_their_timeout(svc: Service) -> None:
    assert svc.process is not None
    service = psutil.Process(svc.process.pid)
    waiters = 20

    async def main() -> tuple[int, int, list[dict], Progress, dict]:
        progress = Progress()
        async with mcp_tools(svc.base_url, TOKEN) as tools:
            plan_id = (await tools.ok("plan_create", {"prompt": "Plant a city orchard in Ghent"}))["id"]
            not_ready = await tools.error("plan_report", {"plan_id": plan_id})
            await tools.ok("plan_wait", {"plan_id": plan_id, "timeout_s": 0})  # warm every code path
            before = service.num_threads()
            results: list[dict] = []

            async def wait(tools: Tools) -> None:
                args = {"plan_id": plan_id, "timeout_s": 2}
                results.append(await tools.ok("plan_wait", args, progress_callback=progress))

            async with anyio.create_task_group() as tg:
                for _ in range(waiters):
                    tg.start_soon(wait, tools)
                while len(progress.seen) < waiters:  # each wait reports once when it starts
                    await anyio.sleep(0.05)
                during = service.num_threads()
            return before, during, results, progress, not_ready

    before, during, results, _progress, not_ready = anyio.run(main)
    assert len(results) == waiters
    assert {(r["outcome"], r["status"]) for r in results} == {("timeout", "queued")}
    assert min(r["waited_s"] for r in results) >= 2
    assert during <= before + 1, (before, during)
    assert not_ready["code"] == "report_not_ready"


def _proxy(svc: Service, *args: str, token: str | None = None) -> StdioServerParameters:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLANEXE_")}
    if token:
        env["PLANEXE_API_TOKEN"] = token
    return StdioServerParameters(command=sys.executable, args=["-m", "planexe.cli", "mcp", *args], env=env)


def test_planexe_mcp_forwards_the_tools_over_stdio(svc: Service) -> None:
    async def main() -> dict:
        out: dict = {}
        async with mcp_tools(svc.base_url, TOKEN) as http:
            out["http_tools"] = (await http.client.list_tools()).tools
        async with Client(_proxy(svc, "--url", svc.base_url, token=TOKEN)) as client:
            tools = Tools(client)
            out["stdio_tools"] = (await client.list_tools()).tools
            created = await tools.ok("plan_create", {"prompt": "Run a village film festival in Wales"})
            out["progress"] = Progress()
            out["wait"] = await tools.ok(
                "plan_wait", {"plan_id": created["id"], "timeout_s": 1}, progress_callback=out["progress"]
            )
            out["not_found"] = await tools.error("plan_status", {"plan_id": "missing"})
            out["invalid"] = await tools.error("plan_create", {"prompt": ""})
        async with Client(_proxy(svc, "--url", svc.base_url)) as client:
            out["no_token"] = await Tools(client).error("plan_status", {"plan_id": "x"})
            with pytest.raises(MCPError) as caught:
                await client.list_tools()
            out["no_token_list"] = caught.value
        async with Client(_proxy(svc, "--url", f"http://127.0.0.1:{free_port()}", token=TOKEN)) as client:
            out["down"] = await Tools(client).error("plan_status", {"plan_id": "x"})
        return out

    out = anyio.run(main)
    dump = [t.model_dump() for t in out["http_tools"]]
    assert [t.model_dump() for t in out["stdio_tools"]] == dump
    assert out["wait"]["outcome"] == "timeout" and out["wait"]["links"]["self"].startswith(svc.base_url)
    assert [p for p, _, _ in out["progress"].seen] == [0]  # forwarded from the service
    assert out["not_found"] == {"code": "plan_not_found", "message": "no plan with id 'missing'"}
    assert out["invalid"]["code"] == "invalid_request"
    assert out["no_token"]["code"] == "unauthorized" and "PLANEXE_API_TOKEN" in out["no_token"]["message"]
    assert "unauthorized" in str(out["no_token_list"])
    assert out["down"]["code"] == "service_unreachable" and "planexe serve" in out["down"]["message"]


def _leaf_types(exc: BaseException) -> set[type]:
    if isinstance(exc, BaseExceptionGroup):
        return set().union(*(_leaf_types(e) for e in exc.exceptions))
    return {type(exc)}
