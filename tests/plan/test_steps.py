from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import luigi
import pytest
from pydantic import BaseModel

from planexe.llm.synth import synthesize
from planexe.pipeline.context import open_context
from planexe.pipeline.events import iter_events
from planexe.pipeline.rundir import REPORT_FILE, PlanSpec, write_plan
from planexe.plan import dag
from planexe.plan.assumptions import (
    AssumptionIssue,
    DistilledAssumption,
    MissingAssumption,
    ReviewAssumptionsOutput,
    consolidate,
)
from planexe.plan.budget import CostEstimatesOutput, PackageCostEntry, PhaseCostAnswer, roll_up
from planexe.plan.documents import (
    DocumentDraft,
    DocumentToFind,
    DraftDocuments,
    DraftDocumentsToCreate,
    DraftDocumentsToFind,
    FilterDocuments,
    FilterDocumentsToCreate,
    FilterDocumentsToFind,
    SearchBrief,
    Selection,
    SelectionAnswer,
    select_documents,
)
from planexe.plan.experts import Critique, ExpertCritique, consolidate_critiques
from planexe.plan.premortem import FailureScenario
from planexe.plan.project_plan import ProjectCharter, ProjectTargets
from planexe.plan.review import ReviewAnswer
from planexe.plan.risks import Risk, build_register
from planexe.plan.schedule import (
    DependenciesAnswer,
    PackageDependency,
    acyclic_dependencies,
    build_schedule,
    compute_schedule,
    forward_pass,
    leaf_predecessors,
    topological_order,
)
from planexe.plan.team import RaciAnswer, RoleProfile
from planexe.plan.wbs import (
    PACKAGES_PER_PHASE,
    PHASES,
    TASKS_PER_PACKAGE,
    Estimate,
    PackageExpansion,
    Phase,
    PhaseBreakdown,
    TaskBreakdown,
    WbsEdge,
    WbsItem,
    WbsLevel1Output,
    WbsLevel2Output,
    WbsLevel3Output,
    WbsOutput,
    WbsTask,
    WorkPackage,
    build_wbs,
    sequence_edges,
)

PROMPT = "Open a small bakery in Copenhagen"

# Models the steps ask with that are not themselves a step's stored output.
ASK_MODELS: list[type[BaseModel]] = [
    ProjectCharter,
    ProjectTargets,
    TaskBreakdown,
    RoleProfile,
    Critique,
    SearchBrief,
    DocumentDraft,
    SelectionAnswer,
    DependenciesAnswer,
    Estimate,
    PhaseCostAnswer,
    RaciAnswer,
    ReviewAnswer,
    FailureScenario,
]
ALL_MODELS = [t.output_model for t in dag.ALL_TASKS] + ASK_MODELS


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("seed", ["a", "b"])
def test_synthesized_output_validates(model: type[BaseModel], seed: str) -> None:
    value = synthesize(model.model_json_schema(), seed=f"{seed}|{model.__name__}", context=PROMPT)
    model.model_validate(value)


def risk(title: str, likelihood: str, impact: str) -> Risk:
    return Risk.model_validate(
        {
            "title": title,
            "category": "financial",
            "description": "d",
            "likelihood": likelihood,
            "impact": impact,
            "early_warning_sign": "w",
            "mitigation": "m",
            "owner_role": "o",
        }
    )


class TestSchedule:
    # A(3) → B(2) and C(4); D(1) waits for B and C.
    DURATIONS: ClassVar[dict[str, float]] = {"A": 3.0, "B": 2.0, "C": 4.0, "D": 1.0}
    PREDS: ClassVar[dict[str, list[str]]] = {"B": ["A"], "C": ["A"], "D": ["B", "C"]}

    def test_forward_pass_gives_earliest_start_and_finish(self) -> None:
        early = forward_pass(self.DURATIONS, self.PREDS)
        assert early == {"A": (0.0, 3.0), "B": (3.0, 5.0), "C": (3.0, 7.0), "D": (7.0, 8.0)}

    def test_critical_path_and_slack(self) -> None:
        timing, path = compute_schedule(self.DURATIONS, self.PREDS)
        assert path == ["A", "C", "D"]
        assert timing["B"].slack == 2.0 and not timing["B"].critical
        assert all(timing[n].critical for n in path)

    def test_independent_chains_run_in_parallel(self) -> None:
        timing, path = compute_schedule({"X": 5.0, "Y": 2.0, "Z": 1.0}, {"Z": ["Y"]})
        assert timing["Y"].start == timing["X"].start == 0.0
        assert path == ["X"]
        assert timing["Z"].slack == 2.0

    def test_order_is_stable_and_cycles_are_refused(self) -> None:
        assert topological_order(["c", "a", "b"], {"a": ["b"]}) == ["c", "b", "a"]
        with pytest.raises(ValueError, match="cycle"):
            topological_order(["a", "b"], {"a": ["b"], "b": ["a"]})
        with pytest.raises(ValueError, match="unknown"):
            topological_order(["a"], {"a": ["zz"]})

    def test_dependencies_drop_self_loops_duplicates_and_cycles(self) -> None:
        proposed = [
            PackageDependency(package_id="2.1", depends_on="1.1", reason="r"),
            PackageDependency(package_id="2.1", depends_on="2.1", reason="r"),
            PackageDependency(package_id="2.1", depends_on="1.1", reason="r"),
            PackageDependency(package_id="3.1", depends_on="2.1", reason="r"),
            PackageDependency(package_id="1.1", depends_on="3.1", reason="r"),
        ]
        accepted, rejected = acyclic_dependencies(["1.1", "2.1", "3.1"], proposed)
        assert [(d.package_id, d.depends_on) for d in accepted] == [("2.1", "1.1"), ("3.1", "2.1")]
        assert [r.why for r in rejected] == ["self", "duplicate", "cycle"]

    def test_tasks_marked_parallel_share_their_predecessors(self) -> None:
        def task(parallel: bool) -> WbsTask:
            return WbsTask(
                name="t",
                description="d",
                owner_role="r",
                parallel_with_previous=parallel,
                duration_days=1,
                confidence="medium",
                basis="b",
            )

        edges = sequence_edges("1.1", [task(True), task(False), task(True), task(False)])
        pairs = {(e.task_id, e.depends_on) for e in edges}
        assert pairs == {("1.1.2", "1.1.1"), ("1.1.3", "1.1.1"), ("1.1.4", "1.1.2"), ("1.1.4", "1.1.3")}

    def test_package_dependencies_link_last_tasks_to_first_tasks(self) -> None:
        def item(id_: str, level: int, leaf: bool) -> WbsItem:
            parent = id_.rsplit(".", 1)[0] if level > 1 else ""
            return WbsItem(
                id=id_,
                level=level,
                parent_id=parent,
                name=id_,
                description="",
                deliverable="",
                owner_role="",
                is_leaf=leaf,
                estimate=Estimate(duration_days=1, confidence="low", basis="b") if leaf else None,
            )

        wbs = WbsOutput.model_validate(
            {
                "counts": {"phases": 1, "work_packages": 2, "tasks": 2, "leaves": 3},
                "items": [
                    item("1", 1, False),
                    item("1.1", 2, False),
                    item("1.1.1", 3, True),
                    item("1.1.2", 3, True),
                    item("1.2", 2, True),
                ],
                "sequence": [WbsEdge(task_id="1.1.2", depends_on="1.1.1")],
            }
        )
        deps = [PackageDependency(package_id="1.2", depends_on="1.1", reason="r")]
        assert leaf_predecessors(wbs, deps) == {"1.1.1": [], "1.1.2": ["1.1.1"], "1.2": ["1.1.2"]}
        schedule = build_schedule(wbs, deps, {"1.1.1": 2.0, "1.1.2": 3.0, "1.2": 4.0})
        by_id = {i.id: i for i in schedule.items}
        assert schedule.total_duration_days == 9.0
        assert schedule.critical_path == ["1.1.1", "1.1.2", "1.2"]
        assert (by_id["1.2"].start_day, by_id["1.2"].finish_day) == (5.0, 9.0)
        assert (by_id["1.1"].start_day, by_id["1.1"].duration_days) == (0.0, 5.0)  # roll-up of its tasks
        assert by_id["1"].finish_day == 9.0 and by_id["1"].critical
        assert by_id["1.2"].depends_on == ["1.1.2"]


class TestWbsEstimates:
    """Durations come from the call that wrote each leaf: no separate estimating round."""

    def test_leaves_carry_the_estimate_of_the_call_that_wrote_them(self) -> None:
        phases = [Phase(name=f"p{p}", objective="o", deliverable="d") for p in range(PHASES)]
        level2 = WbsLevel2Output(
            phases=[
                PhaseBreakdown(
                    work_packages=[
                        WorkPackage(
                            name=f"wp{p}.{k}",
                            description="d",
                            deliverable="d",
                            duration_days=10 * p + k,
                            confidence="low",
                            basis="package",
                        )
                        for k in range(1, PACKAGES_PER_PHASE + 1)
                    ]
                )
                for p in range(1, PHASES + 1)
            ]
        )
        tasks = [
            WbsTask(
                name=f"t{t}",
                description="d",
                owner_role="r",
                parallel_with_previous=False,
                duration_days=t / 2,
                confidence="high",
                basis="task",
            )
            for t in range(1, TASKS_PER_PACKAGE + 1)
        ]
        level3 = WbsLevel3Output(expansions=[PackageExpansion(package_id="2.1", tasks=tasks)])
        wbs = build_wbs(WbsLevel1Output(phases=phases), level2, level3)
        by_id = {item.id: item for item in wbs.items}
        assert by_id["2.1"].estimate is None and not by_id["2.1"].is_leaf
        assert [by_id[f"2.1.{t}"].estimate.duration_days for t in range(1, 5)] == [0.5, 1.0, 1.5, 2.0]  # type: ignore[union-attr]
        assert by_id["3.2"].is_leaf and by_id["3.2"].estimate == Estimate(
            duration_days=32, confidence="low", basis="package"
        )
        assert all((item.estimate is not None) == item.is_leaf for item in wbs.items)
        schedule = build_schedule(
            wbs, [], {i.id: i.estimate.duration_days for i in wbs.items if i.estimate is not None}
        )
        assert schedule.total_duration_days == 53.0  # package 5.3, alone, is the longest leaf


class TestDocuments:
    def test_both_lists_share_one_drafting_implementation(self) -> None:
        for task in (DraftDocumentsToFind, DraftDocumentsToCreate):
            assert issubclass(task, DraftDocuments)
            assert task.produce is DraftDocuments.produce
        assert DraftDocumentsToFind.kind != DraftDocumentsToCreate.kind
        assert DraftDocumentsToFind.selection_task is FilterDocumentsToFind
        assert DraftDocumentsToCreate.selection_task is FilterDocumentsToCreate
        assert DraftDocumentsToFind.planned_calls("full") == DraftDocumentsToCreate.planned_calls("full")

    def test_both_lists_share_one_filter_implementation(self) -> None:
        for task in (FilterDocumentsToFind, FilterDocumentsToCreate):
            assert issubclass(task, FilterDocuments) and task.produce is FilterDocuments.produce

    def test_selection_drops_repeats_and_tops_up_in_order(self) -> None:
        pool: dict[str, BaseModel] = {
            f"F{i}": DocumentToFind(name=f"doc {i}", kind="other", likely_source="s", why_needed="w")
            for i in range(1, 6)
        }
        picks = [
            Selection(document_id="F4", priority="high", reason="r4"),
            Selection(document_id="F4", priority="critical", reason="again"),
            Selection(document_id="F2", priority="critical", reason="r2"),
        ]
        chosen = select_documents(pool, picks, 3)
        assert [(d.id, d.priority) for d in chosen] == [("F2", "critical"), ("F4", "high"), ("F1", "medium")]
        assert chosen[0].name == "doc 2"


class TestConsolidation:
    def test_assumption_review_is_applied(self) -> None:
        distilled = [
            DistilledAssumption(
                statement=f"s{i}", category="budget", confidence="high", how_to_verify=f"v{i}"
            )
            for i in (1, 2, 3)
        ]
        review = ReviewAssumptionsOutput(
            issues=[
                AssumptionIssue(
                    assumption_id="A2", problem="minor thing", severity="minor", revised_statement="minor fix"
                ),
                AssumptionIssue(
                    assumption_id="A2", problem="too cheap", severity="critical", revised_statement="s2 x2"
                ),
                AssumptionIssue(
                    assumption_id="A3", problem="vague", severity="major", revised_statement="  "
                ),
            ],
            missing=[MissingAssumption(statement="new", category="team", why_it_matters="w")],
            verdict="ok",
        )
        merged = consolidate(distilled, review)
        rows = [(a.id, a.statement, a.status, a.confidence) for a in merged.assumptions]
        assert rows == [
            ("A1", "s1", "kept", "high"),
            ("A2", "s2 x2", "revised", "low"),
            ("A3", "s3", "kept", "high"),
            ("A4", "new", "added", "low"),
        ]
        assert merged.assumptions[1].note == "critical: too cheap"
        assert (merged.counts.kept, merged.counts.revised, merged.counts.added) == (2, 1, 1)

    def test_risk_register_scores_and_ranks(self) -> None:
        register = build_register(
            [risk("a", "low", "high"), risk("b", "high", "high"), risk("c", "medium", "high")]
        )
        assert [(r.id, r.score, r.severity) for r in register.risks] == [
            ("R2", 9, "critical"),
            ("R3", 6, "high"),
            ("R1", 3, "medium"),
        ]
        assert register.severity_counts.model_dump() == {"critical": 1, "high": 1, "medium": 1, "low": 0}

    def test_expert_concerns_are_merged_most_severe_first(self) -> None:
        def critique(expert: str, severities: list[str], confidence: str) -> ExpertCritique:
            concerns = [
                {"issue": f"{expert}-{s}", "evidence": "e", "severity": s, "recommendation": "r"}
                for s in severities
            ]
            return ExpertCritique.model_validate(
                {
                    "expert": expert,
                    "concerns": concerns,
                    "overall_assessment": "x",
                    "confidence_in_plan": confidence,
                }
            )

        review = consolidate_critiques(
            [critique("a", ["low", "high"], "low"), critique("b", ["medium", "low"], "low")]
        )
        assert [c.issue for c in review.concerns] == ["a-high", "b-medium", "a-low", "b-low"]
        assert [c.expert for c in review.concerns] == ["a", "b", "a", "b"]
        assert review.verdict == "concerned"
        assert review.severity_counts.model_dump() == {"high": 1, "medium": 1, "low": 2}

    def test_budget_rolls_up_by_phase_with_contingency(self) -> None:
        level1 = WbsLevel1Output.model_construct(
            phases=[Phase(name=f"P{i}", objective="o", deliverable="d") for i in (1, 2)]
        )

        def cost(pid: str, labour: float) -> PackageCostEntry:
            return PackageCostEntry(
                package_id=pid,
                package_name=pid,
                labour=labour,
                materials=10,
                other=0,
                basis="b",
                total=labour + 10,
            )

        costs = CostEstimatesOutput(
            currency="DKK", work_packages=[cost("1.1", 90), cost("1.2", 40), cost("2.1", 50)]
        )
        budget = roll_up(level1, costs, contingency_percent=10, outline_total=100)
        assert [p.total for p in budget.phases] == [150, 60]
        assert (budget.subtotal, budget.contingency, budget.total) == (210, 21, 231)
        assert budget.verdict == "above_outline" and budget.variance_percent == 131.0


def _llm_calls(run_dir: Path) -> int:
    return sum(
        1 for e in iter_events(run_dir / "events.jsonl") if e["kind"] == "llm_call" and e["outcome"] == "ok"
    )


@pytest.mark.parametrize("detail", ["fast", "full"])
def test_offline_run_makes_the_declared_calls_and_writes_the_report(tmp_path: Path, detail: str) -> None:
    write_plan(tmp_path, PlanSpec(prompt=PROMPT, detail=detail))  # type: ignore[arg-type]
    open_context(tmp_path)
    ok = luigi.build([dag.final_task(str(tmp_path))], local_scheduler=True, workers=1, log_level="WARNING")
    assert ok
    assert _llm_calls(tmp_path) == dag.planned_calls(detail)  # type: ignore[arg-type]
    for task in dag.ALL_TASKS:
        envelope = json.loads((tmp_path / task.output_filename()).read_text())
        assert envelope["offline"] is True
        assert (envelope["models"] == []) == (task.planned_calls(detail) == 0)  # type: ignore[arg-type]
        task.output_model.model_validate(envelope["data"])
    report = (tmp_path / REPORT_FILE).read_text()
    manifest = json.loads((tmp_path / dag.FINAL_TASK.output_filename()).read_text())["data"]
    assert report.startswith("<!DOCTYPE html>") and "Copenhagen" in report
    assert manifest["section_count"] == len(manifest["sections"]) > 25
    assert manifest["gantt_bars"] > 0 and manifest["offline"] is True
    if detail == "fast":
        # Resuming redoes only what is missing: the report, which asks no model.
        calls = _llm_calls(tmp_path)
        (tmp_path / dag.FINAL_TASK.output_filename()).unlink()
        (tmp_path / REPORT_FILE).unlink()
        assert luigi.build(
            [dag.final_task(str(tmp_path))], local_scheduler=True, workers=1, log_level="WARNING"
        )
        assert _llm_calls(tmp_path) == calls
        assert (tmp_path / REPORT_FILE).exists()
