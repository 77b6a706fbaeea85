"""A stop whose exception was swallowed still stops the run.

The SIGTERM handler raises in whatever the main thread is doing; a few places in
the standard library swallow it ("Exception ignored in ..."). The handler also
sets ``STOP_REQUESTED``, and the worker raises again at its next look for work or
results. Setting the flag without raising is exactly what a swallowed exception
leaves behind.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from planexe.pipeline import hygiene, luigi_worker
from planexe.pipeline.exitcodes import ExitCode
from planexe.pipeline.runner import run_pipeline
from planexe.plan.dag import PLAN_DAG
from planexe.settings import Settings, get_settings
from planexe.testing.llm_server import llm_server
from planexe.testing.pipeline import events, make_run_dir, wait_for


def test_a_stop_whose_exception_was_swallowed_still_interrupts_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with llm_server(seed=3, latency="fixed:0.05") as server:
        for name, value in {
            "PLANEXE_LLM_BASE_URL": server.base_url,
            "PLANEXE_LLM_MODEL": "test-model",
            "PLANEXE_TASK_ISOLATION": "thread",
        }.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        run_dir = make_run_dir(tmp_path, detail="fast")

        def swallowed_stop() -> None:
            wait_for(run_dir, lambda evs: sum(e["kind"] == "task_succeeded" for e in evs) >= 5)
            luigi_worker.STOP_REQUESTED.set()  # the flag, and no exception anywhere

        stopper = threading.Thread(target=swallowed_stop, daemon=True)
        stopper.start()
        try:
            result = run_pipeline(
                run_dir,
                dag=PLAN_DAG,
                workers=4,
                hygiene=hygiene.Hygiene(),
                settings=Settings(),
                handle_signals=False,
            )
        finally:
            stopper.join(timeout=60)
            get_settings.cache_clear()
    assert result.exit_code is ExitCode.INTERRUPTED, result.reason
    recorded = events(run_dir)
    assert recorded[-1]["status"] == "interrupted"
    assert not (run_dir / "report.html").exists()
    assert not [e for e in recorded if e["kind"] == "task_failed"]
