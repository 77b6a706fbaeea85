"""OpenAICompatProvider and LLMExecutor against a real llama.cpp server (SmolLM2-135M).

The server runs as a child process (``planexe.testing.local_llm``); install it
with ``make local-llm``. Under a schema, the answers' cap is above the longest
answer the grammar allows, so no answer here can be cut off, however the model
samples; in JSON mode (no schema grammar) the cap is 256 tokens.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
import httpx
import pytest
from pydantic import BaseModel, Field

from planexe.llm.config import ModelSpec, load_llm_config, max_concurrent_llm
from planexe.llm.executor import LLMExecutor
from planexe.llm.local_server import (
    DEFAULT_CTX,
    DEFAULT_PARALLEL,
    DEFAULT_TIMEOUT_S,
    LocalLLMError,
    find_smollm2_model,
)
from planexe.llm.providers import SCHEMA_IN_PROMPT_INTRO, OpenAICompatProvider
from planexe.llm.schema_bounds import answer_chars
from planexe.llm.types import CallRecord, ChatRequest, ChatResponse
from planexe.plan.prompt_sizes import REFERENCE_PROMPT, check_windows
from planexe.settings import get_settings
from planexe.testing.local_llm import local_llm_server, spawn_local_llm, stop_local_llm, wait_until_ready

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # a safety net: one request is ~10 s

PROJECT = [
    {"role": "system", "content": "You are a project planner. Answer in JSON."},
    {"role": "user", "content": "Project: open a small bakery in Copenhagen with three employees."},
]


class Venture(BaseModel):
    """Every field bounded, so the grammar llama.cpp derives from the schema is finite."""

    kind: Literal["bakery", "cafe", "workshop"]
    title: str = Field(max_length=40)
    staff: int = Field(ge=1, le=20)
    risks: list[Annotated[str, Field(max_length=30)]] = Field(max_length=3)


# The longest answer to Venture that llama.cpp's grammar allows, in tokens (each at least one byte):
# its characters (answer_chars: 214), each at most a 6-character escape (\u00e6), and after each of
# its 23 JSON tokens up to 22 characters of whitespace (the grammar's "\n"{1,2} [ \t]{0,20}).
# PlanExe's own cap for the schema (156) assumes 2 characters a token and a little indentation;
# SmolLM2 writes risks as "1.1.1.1..." (a token per character) indented with tabs, and about one
# answer in 70 passes it: a truncation that tests sampling luck, not structured output.
VENTURE_MAX_TOKENS = answer_chars(Venture.model_json_schema()) * 6 + 23 * 22  # 1,790
SLOT_CTX = 2048  # holds the prompt (~40 tokens) and VENTURE_MAX_TOKENS
JSON_MODE_MAX_TOKENS = 256  # its answers (the schema echoed back) take ~50


YES_NO_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"answer": {"type": "string", "enum": ["yes", "no"]}},
    "required": ["answer"],
}


def _skip_unless_installed() -> None:
    if importlib.util.find_spec("xllamacpp") is None:
        pytest.skip("xllamacpp is not installed (make local-llm)")
    try:
        find_smollm2_model()
    except LocalLLMError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    _skip_unless_installed()
    with local_llm_server(threads=1, ctx=SLOT_CTX, max_tokens=VENTURE_MAX_TOKENS) as url:
        yield url


def local_spec(base_url: str, **kw: Any) -> ModelSpec:
    # A timeout as a safety net only: on a loaded machine one answer can take a minute.
    return ModelSpec(
        name="local", provider="llamacpp", base_url=base_url, model="smollm2", timeout_s=600, **kw
    )


def complete_recording(
    provider: OpenAICompatProvider, request: ChatRequest
) -> tuple[ChatResponse, list[dict[str, Any]]]:
    """Send one request through the provider; also return the JSON bodies that went over the wire."""
    bodies: list[dict[str, Any]] = []

    async def record(req: httpx.Request) -> None:
        bodies.append(json.loads(req.content))

    async def go() -> ChatResponse:
        async with provider.new_client() as client:
            client.event_hooks["request"].append(record)
            return await provider.complete(request, client)

    return anyio.run(go), bodies


class TestJsonSchema:
    def test_executor_gets_a_valid_answer_on_the_first_attempt(self, base_url: str) -> None:
        records: list[CallRecord] = []
        executor = LLMExecutor(
            [local_spec(base_url, max_tokens=VENTURE_MAX_TOKENS)], listeners=[records.append]
        )

        venture = anyio.run(executor.structured, PROJECT, Venture)

        assert isinstance(venture, Venture)
        # A 135M model gets this schema right only when the server constrains
        # decoding to it, so one clean attempt shows json_schema was applied.
        assert [r.outcome for r in records] == ["ok"]
        assert records[0].prompt_tokens > 0
        assert 0 < records[0].completion_tokens <= VENTURE_MAX_TOKENS
        provider = executor.providers["local"]
        assert isinstance(provider, OpenAICompatProvider)
        assert provider.mode == "json_schema"

    def test_provider_sends_the_schema_as_response_format(self, base_url: str) -> None:
        provider = OpenAICompatProvider(local_spec(base_url, structured_output="json_schema"))
        schema = Venture.model_json_schema()

        response, bodies = complete_recording(
            provider, ChatRequest(messages=PROJECT, schema=schema, schema_name="Venture")
        )

        assert len(bodies) == 1
        assert bodies[0]["response_format"]["type"] == "json_schema"
        assert bodies[0]["response_format"]["json_schema"]["schema"] == schema
        Venture.model_validate_json(response.content)
        assert response.completion_tokens > 0


class TestJsonMode:
    def test_forced_json_object_mode_puts_the_schema_in_the_prompt(self, base_url: str) -> None:
        provider = OpenAICompatProvider(local_spec(base_url, structured_output="json_object"))
        question = [{"role": "user", "content": "Should a bakery open on Sundays? Answer yes or no."}]

        response, bodies = complete_recording(
            provider,
            ChatRequest(
                messages=question, schema=YES_NO_SCHEMA, schema_name="Answer", max_tokens=JSON_MODE_MAX_TOKENS
            ),
        )

        assert provider.mode == "json_object"
        assert bodies[0]["response_format"] == {"type": "json_object"}
        assert SCHEMA_IN_PROMPT_INTRO in bodies[0]["messages"][-1]["content"]
        # JSON mode guarantees JSON, not the schema: a model this small often
        # echoes the schema back, which is why json_schema comes first.
        assert isinstance(json.loads(response.content), dict)
        assert response.completion_tokens > 0

    def test_auto_falls_back_when_the_server_refuses_the_schema(self, base_url: str) -> None:
        provider = OpenAICompatProvider(local_spec(base_url))
        # llama.cpp answers 400 "JSON schema error ... unsupported $ref" to remote references.
        schema = {
            "type": "object",
            "properties": {"answer": {"$ref": "https://example.com/answer.json"}},
            "required": ["answer"],
        }
        question = [{"role": "user", "content": "Reply with an empty JSON object."}]

        response, bodies = complete_recording(
            provider,
            ChatRequest(
                messages=question, schema=schema, schema_name="Answer", max_tokens=JSON_MODE_MAX_TOKENS
            ),
        )

        assert [b["response_format"]["type"] for b in bodies] == ["json_schema", "json_object"]
        assert provider.mode == "json_object"
        assert response.content.lstrip().startswith("{")
        assert response.completion_tokens > 0


class TestProcess:
    def test_the_settings_it_prints_give_planexe_its_window_slots_and_timeout(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        _skip_unless_installed()
        log_path = tmp_path / "server.log"
        with log_path.open("wb") as log_file:  # local-llm's own defaults, one thread aside
            proc = spawn_local_llm(log_file, ctx=None, max_tokens=None, parallel=None)
        try:
            base_url = wait_until_ready(proc, log_path)
            slots = httpx.get(f"{base_url.removesuffix('/v1')}/slots", timeout=5).json()
        finally:
            stop_local_llm(proc)
        line = next(x for x in log_path.read_text().splitlines() if "PLANEXE_LLM_BASE_URL=" in x)
        for pair in line.split():
            name, value = pair.split("=", 1)
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()

        settings = get_settings()
        (spec,) = load_llm_config(settings).chain
        assert (spec.base_url, spec.model) == (base_url, "smollm2")
        # The window declared is what each of the server's slots really has, and fits every prompt.
        assert {s["n_ctx"] for s in slots} == {spec.context_window} and spec.context_window == DEFAULT_CTX
        check_windows([spec], "full", REFERENCE_PROMPT)
        # One call per slot in flight; the rest wait for a permit in PlanExe, not in llama.cpp's queue.
        assert spec.max_in_flight == len(slots) == max_concurrent_llm(settings, [spec]) == DEFAULT_PARALLEL
        assert spec.timeout_s == DEFAULT_TIMEOUT_S

    def test_sigterm_stops_the_server_with_exit_code_0(self, tmp_path: Path) -> None:
        _skip_unless_installed()
        log_path = tmp_path / "server.log"
        with log_path.open("wb") as log_file:
            proc = spawn_local_llm(log_file, ctx=512)
        try:
            base_url = wait_until_ready(proc, log_path)
            assert httpx.get(f"{base_url}/models", timeout=5).json()["data"][0]["id"] == "smollm2"
        finally:
            code = stop_local_llm(proc)

        log = log_path.read_text()
        assert code == 0, log  # negative: it ignored SIGTERM and had to be killed
        assert "local_llm_stopped" in log
