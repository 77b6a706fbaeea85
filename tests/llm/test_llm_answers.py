"""What the executor does with the answers real models give: cut off, wrapped, oversized, unpriced.

Over httpx.MockTransport; the same behaviours through the real server are in test_llm_quirks.py.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest
from llmhelpers import GOOD, Answer, Script, completion, make, ok, run, spec

from planexe.llm.config import ModelSpec
from planexe.llm.errors import AllModelsFailedError
from planexe.llm.repair import Repair, extract_json
from planexe.llm.sizing import prompt_tokens


def answer(content: str, finish: str = "stop", usage: dict[str, int] | None = None) -> httpx.Response:
    body: dict[str, Any] = {
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}
        ],
    }
    if usage is not None:
        body["usage"] = usage
    return httpx.Response(200, json=body)


def cut_off(_: httpx.Request) -> httpx.Response:
    return answer(
        '{"verdict": "go", "sco', finish="length", usage={"prompt_tokens": 9, "completion_tokens": 64}
    )


class TestTruncation:
    def test_a_cut_off_answer_is_retried_once_with_twice_the_room_and_a_new_message(self) -> None:
        script = Script(a=[cut_off, ok])
        executor, records = make(script, spec("a"))
        assert run(executor).score == 7
        first, second = script.bodies()
        assert [r.outcome for r in records] == ["truncated", "ok"]
        assert second["max_tokens"] == 2 * first["max_tokens"]  # type: ignore[operator]
        assert second["messages"] != first["messages"]
        assert "cut off" in second["messages"][-1]["content"]  # type: ignore[index]
        assert "max_tokens" in records[0].detail and "--ctx" in records[0].detail

    def test_a_second_truncation_gives_up_on_the_model(self) -> None:
        script = Script(a=[cut_off], b=[ok])
        executor, records = make(script, spec("a"), spec("b", priority=2))
        assert run(executor).score == 7
        assert [(r.model, r.outcome) for r in records] == [
            ("a", "truncated"),
            ("a", "truncated"),
            ("b", "ok"),
        ]

    def test_with_max_tokens_configured_the_retry_keeps_it(self) -> None:
        script = Script(a=[cut_off], b=[ok])
        executor, _ = make(script, spec("a", max_tokens=100), spec("b", priority=2))
        run(executor)
        assert [b["max_tokens"] for b in script.bodies()[:2]] == [100, 100]

    def test_a_complete_answer_that_hit_the_limit_is_accepted(self) -> None:
        script = Script(a=[lambda _: answer(json.dumps(GOOD), finish="length", usage={})])
        executor, records = make(script, spec("a"))
        assert run(executor).score == 7
        assert [r.outcome for r in records] == ["ok"]


WRAPPED = {
    "fence": ("```json\n" + json.dumps(GOOD) + "\n```", ["code_fence"]),
    "think": ("<think>The user wants JSON. {not this}</think>\n" + json.dumps(GOOD), ["think_block"]),
    "prose": ("Sure! Here is the JSON you asked for: " + json.dumps(GOOD) + " Let me know.", ["prose"]),
    "all": (
        "<think>hm</think>Here:\n```json\n" + json.dumps(GOOD) + "\n```\nDone.",
        ["think_block", "code_fence", "prose"],
    ),
}


class TestRepair:
    @pytest.mark.parametrize("kind", list(WRAPPED))
    def test_json_wrapped_in_what_models_add_is_accepted_and_the_repair_recorded(self, kind: str) -> None:
        content, repairs = WRAPPED[kind]
        script = Script(a=[lambda _: completion(content)])
        executor, records = make(script, spec("a"))
        assert run(executor).score == 7
        assert [(r.outcome, list(r.repairs)) for r in records] == [("ok", repairs)]

    def test_plain_json_needs_no_repair(self) -> None:
        assert extract_json(' {"a": [1, 2]}\n') == extract_json('{"a": [1, 2]}')
        found = extract_json('{"a": [1, 2]}')
        assert found is not None and found.repairs == ()

    def test_wrapped_json_that_breaks_the_schema_reports_the_schema_errors(self) -> None:
        bad = "```json\n" + json.dumps({"verdict": "maybe", "score": 7}) + "\n```"
        script = Script(a=[lambda _: completion(bad)])
        executor, records = make(script, spec("a"))
        with pytest.raises(AllModelsFailedError):
            run(executor)
        assert records[0].outcome == "invalid_output" and "verdict" in records[0].detail

    def test_json_inside_reasoning_is_not_taken_for_the_answer(self) -> None:
        assert extract_json('<think>maybe {"x": 1}</think>') is None
        assert extract_json('<think>cut off while thinking about {"x": 1}') is None
        found = extract_json('<think>maybe {"x": 1}</think> {"x": 2}')
        assert found is not None and found.text == '{"x": 2}' and found.repairs == (Repair.THINK_BLOCK,)


LLAMA_CPP_CONTEXT = {
    "error": {
        "code": 400,
        "message": "the request exceeds the available context size, try increasing it",
        "type": "exceed_context_size_error",
        "n_prompt_tokens": 2255,
        "n_ctx": 2048,
    }
}


class TestContext:
    def test_a_server_refusing_the_prompt_size_is_context_exceeded_with_the_fix(self) -> None:
        script = Script(a=[lambda _: httpx.Response(400, json=LLAMA_CPP_CONTEXT)], b=[ok])
        executor, records = make(script, spec("a"), spec("b", priority=2))
        assert run(executor).score == 7
        first = records[0]
        assert (first.model, first.outcome) == ("a", "context_exceeded")  # not retried on the same model
        assert "step s" in first.detail and "2,048 tokens" in first.detail and "--ctx" in first.detail
        assert "num_ctx" in first.detail

    def test_a_declared_window_too_small_for_the_prompt_is_refused_before_sending(self) -> None:
        script = Script(a=[ok], b=[ok])
        small = spec("a", context_window=512)

        async def go() -> Answer:
            return await executor.structured([{"role": "user", "content": "word " * 2000}], Answer, step="s")

        executor, records = make(script, small, spec("b", priority=2))
        assert anyio.run(go).score == 7
        assert [(r.model, r.outcome) for r in records] == [("a", "context_exceeded"), ("b", "ok")]
        assert [r.url.host for r in script.requests] == ["b.test"]
        assert "512 tokens" in records[0].detail

    def test_the_window_check_counts_prompts_as_the_server_does(self) -> None:
        messages = [{"role": "user", "content": "1.1.1 " * 2000}]
        estimated = prompt_tokens(messages)

        def counted_thrice(_: httpx.Request) -> httpx.Response:
            usage = {"prompt_tokens": 3 * estimated, "completion_tokens": 5}
            return answer(json.dumps(GOOD), usage=usage)

        script = Script(a=[counted_thrice], b=[ok])
        window = 2 * estimated  # the first prompt fits by the estimate; the server counts more

        async def twice() -> None:
            for _ in range(2):
                await executor.structured(messages, Answer, step="s")

        executor, records = make(script, spec("a", context_window=window), spec("b", priority=2))
        anyio.run(twice)
        assert [(r.model, r.outcome) for r in records] == [
            ("a", "ok"),
            ("a", "context_exceeded"),
            ("b", "ok"),
        ]
        assert [r.url.host for r in script.requests] == ["a.test", "b.test"]  # refused before sending
        assert f"about {3 * estimated:,} tokens" in records[1].detail

    def test_a_declared_window_caps_the_answer(self) -> None:
        script = Script(a=[ok])
        executor, records = make(script, spec("a", context_window=600, max_tokens=4000))
        run(executor)
        assert records[0].max_tokens == script.bodies()[0]["max_tokens"] < 600


class TestStrict:
    def openai(self, **kw: Any) -> ModelSpec:
        return ModelSpec(name="openai", provider="openai", model="gpt-4o-mini", **kw)

    def test_openai_com_gets_strict_schemas_and_max_completion_tokens(self) -> None:
        script = Script(api=[ok])
        executor, _ = make(script, self.openai())
        run(executor)
        body = script.bodies()[0]
        sent = body["response_format"]["json_schema"]  # type: ignore[index]
        assert sent["strict"] is True
        assert sent["schema"]["additionalProperties"] is False
        assert "max_completion_tokens" in body and "max_tokens" not in body

    def test_other_servers_get_the_plain_schema_unless_configured(self) -> None:
        script = Script(a=[ok], b=[ok])
        for model in (spec("a"), spec("b", strict=True)):
            executor, _ = make(script, model)
            run(executor)
        plain, strict = (b["response_format"]["json_schema"] for b in script.bodies())  # type: ignore[index]
        assert plain["strict"] is False and "additionalProperties" not in plain["schema"]
        assert strict["strict"] is True and strict["schema"]["additionalProperties"] is False

    def test_a_refused_strict_schema_is_sent_again_without_strict(self) -> None:
        refusal = {
            "error": {
                "message": "Invalid schema for response_format 'Answer': In context=(), 'minimum' is not permitted.",
                "type": "invalid_request_error",
                "param": "response_format",
            }
        }
        script = Script(a=[lambda _: httpx.Response(400, json=refusal), ok])
        executor, records = make(script, spec("a", strict=True))
        assert run(executor).score == 7
        assert [b["response_format"]["json_schema"]["strict"] for b in script.bodies()] == [True, False]  # type: ignore[index]
        assert [r.outcome for r in records] == ["ok"]


class TestUsageAndCost:
    def test_an_answer_without_usage_is_counted_from_its_text(self) -> None:
        script = Script(a=[lambda _: answer(json.dumps(GOOD))])
        executor, records = make(script, spec("a"))
        run(executor)
        record = records[0]
        assert record.usage_estimated is True
        assert record.prompt_tokens == record.prompt_tokens_est > 0
        assert record.completion_tokens > 0

    def test_cost_comes_from_the_models_prices(self) -> None:
        script = Script(a=[ok], b=[ok])
        priced = spec("a", input_usd_per_mtok=0.15, output_usd_per_mtok=0.60)
        executor, records = make(script, priced)
        run(executor)
        assert records[0].cost_usd == pytest.approx((11 * 0.15 + 5 * 0.60) / 1e6)
        executor, records = make(script, spec("b"))
        run(executor)
        assert records[0].cost_usd is None  # no prices: unknown, not free

    def test_records_name_the_model_id_and_the_config_entry_only_when_it_differs(self) -> None:
        script = Script(a=[ok], x=[ok])
        named = ModelSpec(
            name="env", provider="openai", model="openai/gpt-4o-mini", base_url="http://a.test/v1"
        )
        executor, records = make(script, named)
        run(executor)
        assert (records[0].model, records[0].model_name) == ("openai/gpt-4o-mini", "env")
        executor, records = make(script, spec("x"))
        run(executor)
        assert (records[0].model, records[0].model_name) == ("x", "")
