"""How large the plan's prompts get, and whether a model's context window can take them.

A step's prompt is its instructions, the project description and the earlier sections it
quotes (as digests, see ``pipeline/quoting.py``). ``measure`` makes an offline plan in a
temporary directory and returns each step's largest prompt, estimated as the executor
estimates it; ``LARGEST_PROMPT_TOKENS`` is that figure without the description, kept true
by ``tests/plan/test_prompt_sizes.py``. A model that declares its ``context_window`` is
refused at start-up when the window cannot hold the largest prompt and an answer.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from planexe.errors import LLMConfigError
from planexe.llm.config import OFFLINE_MODEL_NAME, ModelSpec
from planexe.llm.sizing import estimate_tokens
from planexe.pipeline.rundir import Detail, PlanSpec, write_plan

# Largest prompt of a plan without its project description, estimated tokens, measured on an
# offline plan (the test fails when prompts grow past it, or shrink well below it).
LARGEST_PROMPT_TOKENS: dict[str, int] = {"full": 3450, "fast": 3450}
# Real models write longer sections than the offline generator, and later prompts quote them.
QUOTED_GROWTH = 1.25
ANSWER_ROOM_TOKENS = 1536  # room a window must leave for an answer (longer ones are capped to fit)
REFERENCE_PROMPT = (
    "Open a small sourdough bakery in Copenhagen's Nørrebro district with a café corner, two bakers "
    "and a counter assistant, selling bread and pastries six days a week from next spring."
)


def required_window(detail: Detail, description: str) -> int:
    """Tokens of context a model needs for every prompt of a plan of ``description``."""
    quoted = int(LARGEST_PROMPT_TOKENS[detail] * QUOTED_GROWTH)
    return quoted + estimate_tokens(description) + ANSWER_ROOM_TOKENS


def check_windows(chain: Sequence[ModelSpec], detail: Detail, description: str = "") -> None:
    """Raise ``LLMConfigError`` for the first model whose declared window is too small."""
    need = required_window(detail, description)
    for spec in chain:
        if spec.context_window is not None and spec.context_window < need:
            what = "this plan's prompts" if description else "PlanExe's prompts"
            raise LLMConfigError(
                f"{spec.name}.context_window",
                f"{spec.context_window:,} tokens is too small for {what}: they need about {need:,} "
                f"(the largest prompt and {ANSWER_ROOM_TOKENS:,} for its answer); raise the server's "
                "context (planexe local-llm --ctx, Ollama num_ctx, LM Studio's context length) and the "
                "declared window with it",
            )


def measure(detail: Detail = "fast", description: str = REFERENCE_PROMPT) -> dict[str, int]:
    """Each LLM step's largest prompt in an offline plan of ``description`` (estimated tokens)."""
    import luigi

    from planexe.pipeline.context import open_context
    from planexe.pipeline.events import iter_events
    from planexe.pipeline.luigi_worker import WorkerFactory
    from planexe.plan.dag import final_task

    with tempfile.TemporaryDirectory(prefix="planexe-prompts-") as tmp:
        run_dir = Path(tmp)
        write_plan(run_dir, PlanSpec(prompt=description, detail=detail, llm_model=OFFLINE_MODEL_NAME))
        ctx = open_context(run_dir)
        # Steps as threads of this process: nothing to fork, the sizes are the same.
        luigi.build(
            [final_task(str(run_dir))],
            worker_scheduler_factory=WorkerFactory(isolation="thread"),
            local_scheduler=True,
            workers=1,
            log_level="WARNING",
        )
        sizes: dict[str, int] = {}
        for event in iter_events(ctx.events.path):
            if event.get("kind") == "llm_call":
                task = str(event["task"])
                sizes[task] = max(sizes.get(task, 0), int(event.get("prompt_tokens_est") or 0))
    return dict(sorted(sizes.items(), key=lambda item: -item[1]))
