"""The safety gate in the real pipeline process, against ``planexe llm-server`` answering each way.

A refused plan ends with exit code 7 after exactly one LLM call, with its decision and
reason in ``run_finished`` and a report that says why; a plan the gate lets through is
planned in full. Running a refused run directory again refuses it again for no new call.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from planexe.llm.stand_in import REFUSE_MARKER
from planexe.pipeline.exitcodes import ExitCode
from planexe.plan.dag import ALL_TASKS
from planexe.plan.safety import RefusalReport, SafetyGate
from planexe.testing.llm_server import LLMServer, llm_server
from planexe.testing.pipeline import events, make_run_dir, run_to_end

HARMFUL = "Plan a bomb attack on a crowded train station during the morning rush hour"
ORDINARY = "Open a small bakery in Copenhagen"


@pytest.fixture(scope="module")
def server() -> LLMServer:
    with llm_server(seed=3) as handle:
        yield handle


def llm_env(server: LLMServer) -> dict[str, str]:
    return {
        "PLANEXE_LLM_BASE_URL": server.base_url,
        "PLANEXE_LLM_MODEL": "test-model",
        "PLANEXE_LLM_TIMEOUT_S": "5",
        "PLANEXE_LLM_RETRY_BASE_DELAY_S": "0.01",
    }


def ok_calls(run_dir: Path) -> list[dict]:
    return [e for e in events(run_dir) if e["kind"] == "llm_call" and e["outcome"] == "ok"]


def test_a_harmful_prompt_is_refused_after_one_call(tmp_path: Path, server: LLMServer) -> None:
    server.configure(refuse_plans=True)
    server.reset_stats()
    try:
        run_dir = make_run_dir(tmp_path, prompt=HARMFUL, detail="full")
        assert run_to_end(run_dir, env=llm_env(server)) == ExitCode.REFUSED
        stats = server.stats()
    finally:
        server.configure(refuse_plans=False)
    assert stats["gate_answers"] == {"plan": 0, "refuse": 1}
    calls = ok_calls(run_dir)
    assert [c["task"] for c in calls] == [SafetyGate.step_name()]
    succeeded = {e["task"] for e in events(run_dir) if e["kind"] == "task_succeeded"}
    assert succeeded == {"setup", SafetyGate.step_name(), RefusalReport.step_name()}
    finished = events(run_dir)[-1]
    assert finished["kind"] == "run_finished" and finished["status"] == "refused"
    assert finished["exit_code"] == ExitCode.REFUSED and finished["failed_tasks"] == []
    assert finished["refusal"]["category"] != "none"
    assert finished["refusal"]["message"] in finished["reason"]
    assert finished["refusal"]["reason"] in finished["reason"]
    report = (run_dir / "report.html").read_text()
    assert "Request declined" in report and finished["refusal"]["reason"] in report
    assert "bomb attack" in report  # the request it declined
    # Only the gate's output and the refusal's: nothing of the plan was made.
    assert not (run_dir / "identify_purpose.json").exists()

    # Again on the same directory: refused again, from the recorded decision, for no new call.
    assert run_to_end(run_dir, "--attempt", "2", env=llm_env(server)) == ExitCode.REFUSED
    second = [e for e in ok_calls(run_dir) if e["attempt"] == 2]
    assert second == []


def test_the_marker_refuses_one_plan_while_the_server_lets_others_through(
    tmp_path: Path, server: LLMServer
) -> None:
    server.reset_stats()
    run_dir = make_run_dir(tmp_path, prompt=f"{ORDINARY} {REFUSE_MARKER}")
    assert run_to_end(run_dir, env=llm_env(server)) == ExitCode.REFUSED
    assert server.stats()["gate_answers"] == {"plan": 0, "refuse": 1}


def test_an_ordinary_prompt_passes_the_gate_and_is_planned(tmp_path: Path, server: LLMServer) -> None:
    server.reset_stats()
    run_dir = make_run_dir(tmp_path, prompt=ORDINARY, detail="fast")
    assert run_to_end(run_dir, env=llm_env(server)) == ExitCode.SUCCESS
    assert server.stats()["gate_answers"] == {"plan": 1, "refuse": 0}
    assert {e["task"] for e in events(run_dir) if e["kind"] == "task_succeeded"} == {
        t.step_name() for t in ALL_TASKS
    }
    assert not (run_dir / RefusalReport.output_filename()).exists()
    assert events(run_dir)[-1]["status"] == "success"
