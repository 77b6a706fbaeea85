from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from planexe.llm.server.chat import SCHEMA_PROMPT_MARKER
from planexe.llm.server.options import ServerOptions, parse_latency
from planexe.testing.llm_server import LLMServer, LLMServerError, child_env, llm_server, start_llm_server

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "project_name": {"type": "string", "maxLength": 60},
        "summary": {"type": "string"},
        "risks": {"type": "array", "items": {"type": "string"}, "minItems": 2},
        "budget_eur": {"type": "integer", "minimum": 1000},
    },
    "required": ["project_name", "summary", "risks", "budget_eur"],
    "additionalProperties": False,
}
PROMPT = "Open an artisanal bakery in Copenhagen with a sourdough oven and two trained bakers."
DEFAULTS = ServerOptions().model_dump()


def schema_request(prompt: str = PROMPT, model: str = "test-model") -> dict[str, Any]:
    return {
        "model": model,
        "messages": [
            {"role": "system", "content": "You plan projects."},
            {"role": "user", "content": prompt},
        ],
        "response_format": {"type": "json_schema", "json_schema": {"name": "plan", "schema": SCHEMA}},
    }


def json_mode_request(schema: dict[str, Any] | None = SCHEMA, separate: bool = False) -> dict[str, Any]:
    messages = [{"role": "user", "content": PROMPT}]
    if schema is not None:
        block = f"{SCHEMA_PROMPT_MARKER}\n```json\n{json.dumps(schema, indent=None if separate else 2)}\n```"
        if separate:  # what OpenAICompatProvider sends: one more user message
            messages.append({"role": "user", "content": block})
        else:
            messages[0]["content"] += "\n\n" + block
    return {"model": "test-model", "messages": messages, "response_format": {"type": "json_object"}}


def content_of(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    content: str = response.json()["choices"][0]["message"]["content"]
    return content


@pytest.fixture(scope="module")
def server() -> Iterator[LLMServer]:
    with llm_server(seed=1) as running:
        yield running


@pytest.fixture
def llm(server: LLMServer) -> Iterator[LLMServer]:
    """The shared server, back to default options and zeroed counters for each test."""
    server.configure(**DEFAULTS)
    server.reset_stats()
    yield server


@pytest.fixture
def client(llm: LLMServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=llm.base_url, timeout=10.0) as http:
        yield http


def test_json_schema_answer_is_valid_and_openai_shaped(client: httpx.Client) -> None:
    response = client.post("/chat/completions", json=schema_request())
    value = json.loads(content_of(response))
    jsonschema.Draft202012Validator(SCHEMA).validate(value)
    body = response.json()
    assert body["object"] == "chat.completion" and body["model"] == "test-model"
    assert body["choices"][0]["finish_reason"] == "stop"
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0


def test_same_request_same_answer_and_prompt_shapes_it(client: httpx.Client) -> None:
    first = content_of(client.post("/chat/completions", json=schema_request()))
    assert content_of(client.post("/chat/completions", json=schema_request())) == first
    other = content_of(
        client.post("/chat/completions", json=schema_request("Restore a lighthouse in Maine."))
    )
    assert other != first
    assert "bakery" in first.lower() or "copenhagen" in first.lower() or "sourdough" in first.lower()


@pytest.mark.parametrize("separate", [False, True])
def test_json_object_mode_uses_the_embedded_schema(client: httpx.Client, separate: bool) -> None:
    request = json_mode_request(separate=separate)
    value = json.loads(content_of(client.post("/chat/completions", json=request)))
    jsonschema.Draft202012Validator(SCHEMA).validate(value)
    text = json.dumps(value).lower()
    assert "bakery" in text or "copenhagen" in text or "sourdough" in text
    assert "properties" not in text  # the schema itself is not taken for the topic


def test_schema_marker_matches_the_client() -> None:
    from planexe.llm.providers import SCHEMA_IN_PROMPT_INTRO

    assert SCHEMA_IN_PROMPT_INTRO == SCHEMA_PROMPT_MARKER


def test_json_object_mode_without_schema_answers_empty_object(client: httpx.Client) -> None:
    assert json.loads(content_of(client.post("/chat/completions", json=json_mode_request(None)))) == {}


def test_reject_json_schema(llm: LLMServer, client: httpx.Client) -> None:
    llm.configure(reject_json_schema=True)
    response = client.post("/chat/completions", json=schema_request())
    assert response.status_code == 400
    assert response.json() == {
        "error": {"message": "response_format json_schema is not supported", "type": "invalid_request_error"}
    }
    jsonschema.Draft202012Validator(SCHEMA).validate(
        json.loads(content_of(client.post("/chat/completions", json=json_mode_request())))
    )
    assert llm.stats()["rejected_schema"] == 1


@pytest.mark.parametrize("kind", ["429", "500", "malformed", "invalid"])
def test_each_fault_at_rate_one(llm: LLMServer, client: httpx.Client, kind: str) -> None:
    llm.configure(**{f"rate_{kind}": 1.0})
    for _ in range(3):
        response = client.post("/chat/completions", json=schema_request())
        if kind == "429":
            assert response.status_code == 429
            assert response.headers["Retry-After"] == "0.05"
        elif kind == "500":
            assert response.status_code == 500
        elif kind == "malformed":
            with pytest.raises(ValueError):
                json.loads(content_of(response))
        else:
            with pytest.raises(jsonschema.ValidationError):
                jsonschema.Draft202012Validator(SCHEMA).validate(json.loads(content_of(response)))
    stats = llm.stats()
    assert stats["errors_injected"][kind] == 3
    assert stats["completions_ok"] == 0


def test_hang_outlasts_the_client_timeout_and_frees_its_slot(llm: LLMServer) -> None:
    # hang_s is long: in_flight can only drop back to 0 because the server saw the client leave.
    llm.configure(rate_hang=1.0, hang_s=30.0)
    with httpx.Client(base_url=llm.base_url, timeout=0.3) as http, pytest.raises(httpx.ReadTimeout):
        http.post("/chat/completions", json=schema_request())
    deadline = time.monotonic() + 10
    while llm.stats()["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.02)
    stats = llm.stats()
    assert stats["in_flight"] == 0
    assert stats["errors_injected"]["hang"] == 1 and stats["completions_ok"] == 0


def test_max_concurrency_rejects_the_excess(llm: LLMServer) -> None:
    llm.configure(max_concurrency=2, latency="fixed:1.0")

    async def burst() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=10)
        async with httpx.AsyncClient(base_url=llm.base_url, timeout=10.0, limits=limits) as http:
            return await asyncio.gather(
                *(http.post("/chat/completions", json=schema_request()) for _ in range(6))
            )

    responses = asyncio.run(burst())
    statuses = [r.status_code for r in responses]
    stats = llm.stats()
    assert statuses.count(429) >= 1 and statuses.count(200) >= 2
    assert all(r.headers["Retry-After"] == "0.05" for r in responses if r.status_code == 429)
    assert stats["rejected_concurrency"] == statuses.count(429)
    assert stats["max_in_flight"] <= 2
    assert sum(stats["errors_injected"].values()) == 0


def test_requests_and_tokens_per_minute_are_refused_with_the_wait_until_room() -> None:
    with (
        llm_server(requests_per_minute=3, limit_window_s=30) as llm,
        httpx.Client(base_url=llm.base_url) as http,
    ):
        statuses = [http.post("/chat/completions", json=schema_request(f"plan {i}")) for i in range(5)]
        assert [r.status_code for r in statuses] == [200, 200, 200, 429, 429]
        # The next slot frees when the first admitted request leaves the 30 s window.
        assert 25 < float(statuses[3].headers["Retry-After"]) <= 30
        stats = llm.stats()
        assert (stats["rejected_rpm"], stats["max_requests_per_window"], stats["requests"]) == (2, 3, 5)
        used = stats["tokens"]["total"]
        assert stats["max_tokens_per_window"] == used
    with (
        llm_server(tokens_per_minute=50, limit_window_s=30) as llm,
        httpx.Client(base_url=llm.base_url) as http,
    ):
        first = http.post("/chat/completions", json=schema_request())
        second = http.post("/chat/completions", json=schema_request())
        assert (first.status_code, second.status_code) == (200, 429)  # the first one used the budget up
        assert llm.stats()["rejected_tpm"] == 1


def test_counters_add_up(llm: LLMServer, client: httpx.Client) -> None:
    llm.configure(rate_429=0.2, rate_500=0.2, rate_malformed=0.1, rate_invalid=0.1, seed=5)
    for i in range(40):
        client.post("/chat/completions", json=schema_request(model=f"m{i % 2}"))
    client.post("/chat/completions", content=b"not json")
    stats = llm.stats()
    buckets = (
        stats["completions_ok"]
        + sum(stats["errors_injected"].values())
        + stats["rejected_concurrency"]
        + stats["rejected_auth"]
        + stats["rejected_schema"]
        + stats["bad_requests"]
        + stats["client_disconnects"]
    )
    assert stats["requests"] == buckets == 41
    assert stats["bad_requests"] == 1
    assert stats["by_model"] == {"m0": 20, "m1": 20}
    assert stats["in_flight"] == 0
    assert stats["tokens"]["total"] == stats["tokens"]["prompt"] + stats["tokens"]["completion"] > 0
    assert all(count > 0 for kind, count in stats["errors_injected"].items() if kind != "hang")


def test_recorded_requests_keep_the_last_n_until_a_reset(llm: LLMServer, client: httpx.Client) -> None:
    client.post("/chat/completions", json=schema_request(prompt="not kept: recording is off"))
    assert llm.requests() == []
    llm.configure(record_requests=2)
    for i in range(3):
        client.post("/chat/completions", json=schema_request(prompt=f"prompt {i}"))
    kept = llm.requests()
    assert [r["messages"][1]["content"] for r in kept] == ["prompt 1", "prompt 2"]
    assert (kept[0]["model"], kept[0]["schema_name"]) == ("test-model", "plan")
    llm.reset_stats()
    assert llm.requests() == []


def test_same_seed_same_faults(llm: LLMServer, client: httpx.Client) -> None:
    def run() -> list[int]:
        llm.configure(rate_429=0.3, rate_500=0.3, seed=11)
        return [client.post("/chat/completions", json=schema_request()).status_code for _ in range(20)]

    first = run()
    assert run() == first
    assert len(set(first)) > 1


def test_admin_config_changes_behaviour_live(llm: LLMServer, client: httpx.Client) -> None:
    assert llm.configure(rate_500=1.0)["rate_500"] == 1.0
    assert client.post("/chat/completions", json=schema_request()).status_code == 500
    llm.configure(rate_500=0.0, models=["alpha", "beta"])
    assert client.post("/chat/completions", json=schema_request()).status_code == 200
    assert [m["id"] for m in client.get("/models").json()["data"]] == ["alpha", "beta"]
    assert llm.options()["models"] == ["alpha", "beta"]


@pytest.mark.parametrize(
    "bad", [{"rate_500": 2.0}, {"latency": "gaussian:1"}, {"max_concurrency": 0}, {"x": 1}]
)
def test_admin_config_refuses_invalid_options(llm: LLMServer, bad: dict[str, Any]) -> None:
    with pytest.raises(LLMServerError, match="422"):
        llm.configure(**bad)
    assert llm.options() == ServerOptions().public()


def test_api_key_is_enforced_and_masked(llm: LLMServer, client: httpx.Client) -> None:
    key = "sk-test-0123456789"
    assert llm.configure(api_key=key)["api_key"] == "***"
    assert client.post("/chat/completions", json=schema_request()).status_code == 401
    wrong = {"Authorization": "Bearer sk-wrong"}
    assert client.post("/chat/completions", json=schema_request(), headers=wrong).status_code == 401
    right = {"Authorization": f"Bearer {key}"}
    assert client.post("/chat/completions", json=schema_request(), headers=right).status_code == 200
    assert llm.stats()["rejected_auth"] == 2
    assert key not in json.dumps(llm.options())


def test_api_key_given_at_start_stays_off_the_command_line() -> None:
    key = "sk-start-0123456789"
    with llm_server(api_key=key) as running:
        assert key not in str(running.process.args)
        response = httpx.post(f"{running.base_url}/chat/completions", json=schema_request())
        assert response.status_code == 401
        assert key not in running.stderr_text()


def test_port_zero_and_port_file(tmp_path: Path) -> None:
    port_file = tmp_path / "port"
    command = [sys.executable, "-m", "planexe.llm.server", "--port", "0", "--port-file", str(port_file)]
    child = subprocess.Popen(
        [*command, "--model", "solo", "--rate-500", "1"], env=child_env(),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while not port_file.exists():
            assert child.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        port = int(port_file.read_text())
        assert port > 0
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5.0) as http:
            assert http.get("/v1/models").json()["data"][0]["id"] == "solo"
            assert http.get("/admin/config").json()["rate_500"] == 1.0
    finally:
        child.terminate()
        child.communicate(timeout=10)


def test_start_failure_reports_the_child_stderr(llm: LLMServer) -> None:
    with pytest.raises(LLMServerError, match="bind"):
        start_llm_server(port=llm.port)


def test_stop_is_idempotent() -> None:
    running = start_llm_server()
    running.stop()
    running.stop()
    assert running.process.returncode == 0  # SIGTERM is a clean stop


def test_cli_help_through_planexe_command() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "planexe.cli", "llm-server", "--help"], env=child_env(),
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert "--rate-hang" in out.stdout and "--port-file" in out.stdout


def test_latency_spec_parsing_and_sampling() -> None:
    fixed = parse_latency("fixed:0.2")
    assert fixed.sample(random.Random(1), scale=2.0) == pytest.approx(0.4)
    lognormal = parse_latency("lognormal:2.0:0.5")
    draws = [lognormal.sample(random.Random(7), scale=1.0) for _ in range(2)]
    assert draws[0] == draws[1] > 0
    assert lognormal.sample(random.Random(7), scale=0.5) == pytest.approx(draws[0] / 2)
    with pytest.raises(ValueError):
        parse_latency("lognormal:0:1")


def gate_request(prompt: str, mode: str) -> dict[str, Any]:
    from planexe.llm.executor import schema_of
    from planexe.plan.safety import SafetyVerdict

    schema = schema_of(SafetyVerdict, strict=mode == "strict")
    messages = [{"role": "user", "content": prompt}]
    if mode == "json_object":
        messages.append(
            {"role": "user", "content": f"{SCHEMA_PROMPT_MARKER}\n```json\n{json.dumps(schema)}\n```"}
        )
        return {"model": "m", "messages": messages, "response_format": {"type": "json_object"}}
    spec = {"name": "SafetyVerdict", "schema": schema, "strict": mode == "strict"}
    return {
        "model": "m",
        "messages": messages,
        "response_format": {"type": "json_schema", "json_schema": spec},
    }


@pytest.mark.parametrize("mode", ["json_schema", "strict", "json_object"])
def test_the_safety_gate_passes_unless_told_to_refuse(
    llm: LLMServer, client: httpx.Client, mode: str
) -> None:
    from planexe.llm.stand_in import REFUSE_MARKER

    def decision(prompt: str) -> str:
        value = json.loads(content_of(client.post("/chat/completions", json=gate_request(prompt, mode))))
        return str(value["decision"])

    prompts = [f"Open bakery number {n} in Copenhagen" for n in range(12)]
    assert {decision(p) for p in prompts} == {"plan"}  # a template draw would refuse some
    assert decision(f"{PROMPT} {REFUSE_MARKER}") == "refuse"
    llm.configure(refuse_plans=True)
    assert decision(PROMPT) == "refuse"
    assert llm.stats()["gate_answers"] == {"plan": 12, "refuse": 2}
    # Other schemas are answered as always.
    assert "decision" not in json.loads(content_of(client.post("/chat/completions", json=schema_request())))
