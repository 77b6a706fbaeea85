from __future__ import annotations

import json
from pathlib import Path

import pytest

from planexe.errors import LLMConfigError
from planexe.llm.config import OFFLINE_MODEL_NAME, load_llm_config, max_concurrent_llm
from planexe.settings import Settings


def write(tmp_path: Path, data: object, name: str = "llm.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_nothing_configured_means_offline() -> None:
    config = load_llm_config(Settings(), env={})
    assert [m.name for m in config.chain] == [OFFLINE_MODEL_NAME]
    assert config.is_offline


def test_base_url_and_model_make_one_openai_model() -> None:
    settings = Settings(
        llm_base_url="http://127.0.0.1:9/v1/", llm_model="qwen2.5", llm_api_key="sk-test-123456"
    )
    config = load_llm_config(settings, env={})
    (spec,) = config.chain
    assert (spec.provider, spec.model, spec.effective_base_url()) == (
        "openai",
        "qwen2.5",
        "http://127.0.0.1:9/v1",
    )
    assert spec.api_key == "sk-test-123456"
    assert "sk-test" not in repr(spec)
    assert not config.is_offline


def test_base_url_without_model_names_the_missing_field() -> None:
    with pytest.raises(LLMConfigError) as err:
        load_llm_config(Settings(llm_base_url="http://127.0.0.1:9/v1"), env={})
    assert err.value.field == "PLANEXE_LLM_MODEL"


def test_file_models_are_ordered_by_priority_and_keys_resolved(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "models": [
                {"name": "backup", "provider": "ollama", "model": "llama3.1", "priority": 5},
                {
                    "name": "main",
                    "provider": "openrouter",
                    "model": "x/y",
                    "api_key_env": "OR_KEY",
                    "priority": 1,
                },
            ]
        },
    )
    config = load_llm_config(Settings(llm_config=path), env={"OR_KEY": "secret-value-1"})
    assert [m.name for m in config.chain] == ["main", "backup"]
    assert config.chain[0].api_key == "secret-value-1"
    assert config.chain[1].effective_base_url() == "http://127.0.0.1:11434/v1"
    # The offline model can be chosen explicitly but is never a silent fallback.
    assert OFFLINE_MODEL_NAME in config.models
    assert OFFLINE_MODEL_NAME not in [m.name for m in config.chain]


def test_llm_model_names_a_file_model_to_put_first(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "models": [
                {"name": "a", "provider": "vllm", "model": "m1", "priority": 1},
                {"name": "b", "provider": "lmstudio", "model": "m2", "priority": 2},
            ]
        },
    )
    config = load_llm_config(Settings(llm_config=path, llm_model="b"), env={})
    assert [m.name for m in config.chain] == ["b", "a"]
    assert [m.name for m in config.chain_for("a")] == ["a", "b"]


def test_toml_config(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[[models]]\nname = "local"\nprovider = "llamacpp"\nmodel = "smol"\ntimeout_s = 30\n',
        name="llm.toml",
    )
    (spec,) = load_llm_config(Settings(llm_config=path), env={}).chain
    assert (spec.name, spec.timeout_s, spec.effective_base_url()) == (
        "local",
        30.0,
        "http://127.0.0.1:8080/v1",
    )


@pytest.mark.parametrize(
    ("data", "field", "fragment"),
    [
        ("{not json", "PLANEXE_LLM_CONFIG", "not valid JSON"),
        ([1, 2], "PLANEXE_LLM_CONFIG", "top level"),
        ({"models": []}, "PLANEXE_LLM_CONFIG.models", "at least 1"),
        (
            {"models": [{"name": "x", "provider": "acme"}]},
            "PLANEXE_LLM_CONFIG.models[0].provider",
            "Input should be",
        ),
        ({"models": [{"name": "x", "provider": "openai", "colour": 1}]}, "models[0].colour", "Extra inputs"),
        (
            {"models": [{"name": "x", "provider": "openai", "timeout_s": -1}]},
            "models[0].timeout_s",
            "greater",
        ),
        (
            {"models": [{"name": "x", "provider": "openai", "base_url": "ftp://x"}]},
            "models[0].base_url",
            "http",
        ),
        (
            {"models": [{"name": "x", "provider": "openai"}, {"name": "x", "provider": "vllm"}]},
            "PLANEXE_LLM_CONFIG.models",
            "duplicate",
        ),
        (
            {"models": [{"name": "x", "provider": "openai", "api_key": "sk-in-file"}]},
            "PLANEXE_LLM_CONFIG.models[0].api_key",
            "environment variable",
        ),
        (
            {"models": [{"name": "x", "provider": "openai", "api_key_env": "NOPE_KEY"}]},
            "PLANEXE_LLM_CONFIG.models[0].api_key_env",
            "NOPE_KEY",
        ),
    ],
)
def test_config_errors_name_the_field(tmp_path: Path, data: object, field: str, fragment: str) -> None:
    path = write(tmp_path, data)
    with pytest.raises(LLMConfigError) as err:
        load_llm_config(Settings(llm_config=path), env={})
    assert field in err.value.field
    assert fragment in str(err.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(LLMConfigError, match="cannot read"):
        load_llm_config(Settings(llm_config=tmp_path / "absent.json"), env={})


def test_unknown_model_name_lists_the_known_ones(tmp_path: Path) -> None:
    path = write(tmp_path, {"models": [{"name": "a", "provider": "vllm", "model": "m"}]})
    with pytest.raises(LLMConfigError, match="known models: a, offline"):
        load_llm_config(Settings(llm_config=path, llm_model="zzz"), env={})
    config = load_llm_config(Settings(llm_config=path), env={})
    with pytest.raises(LLMConfigError, match="unknown model 'zzz'"):
        config.chain_for("zzz")


def test_model_name_without_any_source_is_an_error() -> None:
    with pytest.raises(LLMConfigError) as err:
        load_llm_config(Settings(llm_model="gpt-4o"), env={})
    assert err.value.field == "PLANEXE_LLM_MODEL"


def test_settings_validate_concurrency() -> None:
    with pytest.raises(ValueError, match="max_concurrent_llm"):
        Settings(max_concurrent_llm=0)


@pytest.mark.parametrize(
    ("providers", "expected"),
    [
        (["openrouter"], 16),
        (["vllm", "ollama"], 16),
        (["ollama", "openai"], 4),
        (["lmstudio"], 4),
        (["llamacpp"], 4),
    ],
)
def test_calls_in_flight_default_by_the_first_model(
    tmp_path: Path, providers: list[str], expected: int
) -> None:
    models = [{"name": f"m{i}", "provider": p, "model": "x"} for i, p in enumerate(providers)]
    config = load_llm_config(Settings(llm_config=write(tmp_path, {"models": models})), env={})
    assert max_concurrent_llm(Settings(), config.chain) == expected
    assert max_concurrent_llm(Settings(max_concurrent_llm=2), config.chain) == 2


def test_offline_runs_at_the_hosted_default() -> None:
    config = load_llm_config(Settings(), env={})
    assert max_concurrent_llm(Settings(), config.chain) == 16
