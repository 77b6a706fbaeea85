from __future__ import annotations

import math

import jsonschema
import pytest
from pydantic import BaseModel

from planexe.llm.config import LOCAL_CONCURRENCY
from planexe.pipeline.base import PlanTask
from planexe.plan import dag
from planexe.plan.common import HOUSE_RULES, id_enum, list_of, retype
from planexe.plan.final import NOT_IN_REPORT, SECTIONS, Report
from planexe.plan.schedule import DependenciesAnswer, PackageDependency

LLM_TASKS = [t for t in dag.ALL_TASKS if t.calls_full > 0]


class TestShape:
    def test_every_task_is_reachable_from_the_final_task(self) -> None:
        assert set(dag.reachable()) == set(dag.ALL_TASKS)

    def test_the_final_task_needs_every_other_task_directly(self) -> None:
        assert dag.ALL_TASKS[-1] is dag.FINAL_TASK is Report
        assert set(Report.depends_on) == set(dag.ALL_TASKS) - {Report}
        assert len(Report.depends_on) == len(set(Report.depends_on))

    def test_every_report_section_is_a_dependency_of_the_report(self) -> None:
        assert set(SECTIONS) <= set(Report.depends_on)
        assert set(Report.depends_on) >= NOT_IN_REPORT
        assert len(SECTIONS) >= 25

    def test_final_task_is_built_for_the_run_dir(self) -> None:
        task = dag.final_task("/tmp/some-run")
        assert isinstance(task, Report)
        assert task.run_dir == "/tmp/some-run"

    def test_task_count_is_in_range(self) -> None:
        assert 50 <= len(dag.ALL_TASKS) <= 70

    def test_step_names_and_output_files_are_unique(self) -> None:
        names = [t.step_name() for t in dag.ALL_TASKS]
        assert len(names) == len(set(names))
        files = [t.output_filename() for t in dag.ALL_TASKS]
        assert len(files) == len(set(files))

    def test_every_dependency_is_listed_in_all_tasks(self) -> None:
        for task in dag.ALL_TASKS:
            assert set(task.depends_on) <= set(dag.ALL_TASKS), task.step_name()


class TestCycles:
    def test_the_plan_dag_has_none(self) -> None:
        order = dag.reachable()
        position = {task: i for i, task in enumerate(order)}
        for task in order:
            assert all(position[dep] < position[task] for dep in task.depends_on)

    def test_a_cycle_is_reported(self) -> None:
        first: type[PlanTask] = type("DagTestCycleFirst", (PlanTask,), {})
        second: type[PlanTask] = type("DagTestCycleSecond", (PlanTask,), {"depends_on": (first,)})
        first.depends_on = (second,)
        with pytest.raises(ValueError, match="cycle"):
            dag.reachable(second)


class TestCost:
    def test_planned_calls_full_is_in_range(self) -> None:
        assert 100 <= dag.planned_calls("full") <= 150

    def test_fast_detail_makes_fewer_calls(self) -> None:
        assert dag.planned_calls("fast") < dag.planned_calls("full")
        assert all(t.planned_calls("fast") <= t.planned_calls("full") for t in dag.ALL_TASKS)

    def test_critical_path_fits_the_budget(self) -> None:
        rounds, path = dag.critical_path("full", dag.BUDGET_CONCURRENCY)
        assert rounds <= dag.CRITICAL_PATH_BUDGET
        assert path[0].step_name() == "setup" and path[-1] is Report
        assert sum(t.planned_rounds("full", dag.BUDGET_CONCURRENCY) for t in path) == rounds

    def test_critical_path_fits_the_budget_for_a_local_model(self) -> None:
        rounds, _ = dag.critical_path("full", LOCAL_CONCURRENCY)
        assert rounds <= dag.LOCAL_CRITICAL_PATH_BUDGET

    def test_fast_critical_path_is_shorter_when_calls_queue(self) -> None:
        assert (
            dag.critical_path("fast", LOCAL_CONCURRENCY)[0] < dag.critical_path("full", LOCAL_CONCURRENCY)[0]
        )
        assert dag.critical_path("fast")[0] <= dag.critical_path("full")[0]

    def test_critical_path_is_much_shorter_than_running_everything_in_a_row(self) -> None:
        sequential = sum(t.planned_rounds("full", dag.BUDGET_CONCURRENCY) for t in dag.ALL_TASKS)
        assert dag.critical_path("full")[0] * 2 < sequential

    def test_batch_rounds_follow_the_concurrency(self) -> None:
        for task in dag.ALL_TASKS:
            calls = task.planned_calls("full")
            expected = math.ceil(calls / 4) if task.batched else calls
            assert task.planned_rounds("full", 4) == expected

    def test_single_call_steps_declare_one_call(self) -> None:
        for task in LLM_TASKS:
            if not task.batched:
                assert task.calls_full == 1, task.step_name()


class TestLLMSteps:
    @pytest.mark.parametrize("task", LLM_TASKS, ids=lambda t: t.step_name())
    def test_has_a_system_prompt_with_the_house_rules(self, task: type[PlanTask]) -> None:
        prompt = getattr(task, "system_prompt", "")
        assert isinstance(prompt, str) and len(prompt) > 200
        assert prompt.endswith(HOUSE_RULES)

    @pytest.mark.parametrize("task", dag.ALL_TASKS, ids=lambda t: t.step_name())
    def test_output_model_has_a_valid_json_schema(self, task: type[PlanTask]) -> None:
        assert issubclass(task.output_model, BaseModel)
        jsonschema.Draft202012Validator.check_schema(task.output_model.model_json_schema())

    def test_code_only_steps_have_no_prompt_to_drift(self) -> None:
        code_only = [t for t in dag.ALL_TASKS if t.calls_full == 0]
        assert len(code_only) >= 10
        assert all(not t.batched for t in code_only)

    def test_id_restricted_models_send_an_enum(self) -> None:
        ids = ["1.1", "1.2", "2.1"]
        dep = retype(PackageDependency, package_id=id_enum(ids), depends_on=id_enum(ids))
        asked = retype(DependenciesAnswer, dependencies=list_of(dep))
        schema = asked.model_json_schema()
        jsonschema.Draft202012Validator.check_schema(schema)
        props = schema["$defs"]["PackageDependency"]["properties"]
        assert props["package_id"]["enum"] == ids
        assert props["reason"]["description"]  # descriptions survive the re-typing
        assert schema["properties"]["dependencies"]["minItems"] == 4
        answer = asked.model_validate(
            {"dependencies": [{"package_id": "1.1", "depends_on": "2.1", "reason": "r"}] * 4}
        )
        assert isinstance(answer, DependenciesAnswer)
        with pytest.raises(ValueError):
            asked.model_validate(
                {"dependencies": [{"package_id": "9.9", "depends_on": "2.1", "reason": "r"}] * 4}
            )
