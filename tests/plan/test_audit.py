"""The self-audit finds what is planted in a constructed plan, says where, and reaches the report.

The constructed plan is a real offline plan's outputs, repaired until the checks find
nothing; each test then plants one inconsistency and expects exactly its findings.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from planhelpers import RecordedPlan, record_plan

from planexe.plan import dag
from planexe.plan.audit import SelfAudit, SelfAuditOutput
from planexe.plan.audit_checks import AuditInputs, run_checks
from planexe.plan.budget import Budget, BudgetOutput, PhaseBudget
from planexe.plan.final import SECTIONS
from planexe.plan.project_plan import budget_total
from planexe.plan.team import RaciRow

ROLE = "Project manager"


def inputs_of(plan: RecordedPlan) -> AuditInputs:
    return SelfAudit(run_dir=str(plan.run_dir)).inputs()


def consistent(p: AuditInputs) -> AuditInputs:
    """The plan with every number and owner the checks look at put right."""
    end = p.schedule.total_duration_days
    last_week = int(end // 7)
    outline = p.plan.budget.model_copy(update={"currency": p.budget.currency})
    milestones = [
        m.model_copy(update={"due_week": min(i, last_week)}) for i, m in enumerate(p.plan.milestones)
    ]
    plan = p.plan.model_copy(
        update={"budget": outline, "budget_total": budget_total(outline), "milestones": milestones}
    )
    budget = p.budget.model_copy(update={"verdict": "consistent", "variance_percent": 0.0})
    risks = p.risks.model_copy(
        update={
            "risks": [
                r.model_copy(
                    update={"owner_role": ROLE, "mitigation": "Sign a fixed-price contract in week 1."}
                )
                for r in p.risks.risks
            ]
        }
    )
    compliance = p.compliance.model_copy(
        update={
            "obligations": [
                o.model_copy(update={"lead_time_weeks": 1, "needed_before": "zzzz"})
                for o in p.compliance.obligations
            ]
        }
    )
    procurement = p.procurement.model_copy(
        update={
            "items": [
                i.model_copy(update={"estimated_cost": 1.0, "order_by_week": 0, "lead_time_weeks": 0.5})
                for i in p.procurement.items
            ]
        }
    )
    data = p.data.model_copy(
        update={"items": [d.model_copy(update={"needed_by_week": 0}) for d in p.data.items]}
    )
    packages = [item for item in p.wbs.items if item.level == 2]
    raci = p.raci.model_copy(
        update={
            "rows": [
                RaciRow(
                    package_id=w.id,
                    package=w.name,
                    responsible=ROLE,
                    accountable=ROLE,
                    consulted=[],
                    informed=[],
                )
                for w in packages
            ]
        }
    )
    wbs = p.wbs.model_copy(
        update={
            "items": [i.model_copy(update={"owner_role": ROLE}) if i.level == 3 else i for i in p.wbs.items]
        }
    )
    return replace(
        p, plan=plan, budget=budget, risks=risks, compliance=compliance, procurement=procurement,
        data=data, raci=raci, wbs=wbs,
    )  # fmt: skip


@pytest.fixture(scope="module")
def clean(recorded_plan: RecordedPlan) -> AuditInputs:
    fixed = consistent(inputs_of(recorded_plan))
    assert [f.where for f in run_checks(fixed)] == []
    return fixed


def _first_waiting_leaf(p: AuditInputs) -> str:
    items = {i.id: i for i in p.schedule.items}
    return next(
        i.id
        for i in p.schedule.items
        if i.depends_on and items[i.depends_on[0]].finish_day > 1 and i.level > 1
    )


def _early_start(p: AuditInputs) -> AuditInputs:
    target = _first_waiting_leaf(p)
    items = [
        i.model_copy(update={"start_day": 0.0, "finish_day": i.duration_days}) if i.id == target else i
        for i in p.schedule.items
    ]
    return replace(p, schedule=p.schedule.model_copy(update={"items": items}))


def _permit_late(p: AuditInputs) -> AuditInputs:
    first = next(i for i in p.schedule.items if i.level > 1 and i.start_day == 0)
    duty = p.compliance.obligations[0].model_copy(update={"needed_before": first.name, "lead_time_weeks": 4})
    return replace(
        p, compliance=p.compliance.model_copy(update={"obligations": [duty, *p.compliance.obligations[1:]]})
    )


def _set_risk(p: AuditInputs, index: int, **fields: str) -> AuditInputs:
    risks = list(p.risks.risks)
    risks[index] = risks[index].model_copy(update=fields)
    return replace(p, risks=p.risks.model_copy(update={"risks": risks}))


def _raci_gap(p: AuditInputs) -> AuditInputs:
    rows = list(p.raci.rows)
    rows[1] = rows[1].model_copy(update={"accountable": ""})
    return replace(p, raci=p.raci.model_copy(update={"rows": rows}))


def _late_milestone(p: AuditInputs) -> AuditInputs:
    milestones = list(p.plan.milestones)
    milestones[-1] = milestones[-1].model_copy(
        update={"due_week": int(p.schedule.total_duration_days // 7) + 10}
    )
    return replace(p, plan=p.plan.model_copy(update={"milestones": milestones}))


def _phase_sum(p: AuditInputs) -> AuditInputs:
    phases = list(p.budget.phases)
    phases[0] = phases[0].model_copy(update={"total": phases[0].total + 5000})
    return replace(p, budget=p.budget.model_copy(update={"phases": phases}))


def _purchases(p: AuditInputs) -> AuditInputs:
    items = list(p.procurement.items)
    items[0] = items[0].model_copy(update={"estimated_cost": p.budget.total * 2})
    return replace(p, procurement=p.procurement.model_copy(update={"items": items}))


PLANTS: dict[
    str, tuple[Callable[[AuditInputs], AuditInputs], Callable[[AuditInputs], set[tuple[str, str]]]]
] = {
    "outline total": (
        lambda p: replace(p, plan=p.plan.model_copy(update={"budget_total": p.plan.budget_total + 1000})),
        lambda p: {("budget", "Project plan budget")},
    ),
    "phase total": (_phase_sum, lambda p: {("budget", "Budget phase 1"), ("budget", "Budget subtotal")}),
    "purchases over budget": (_purchases, lambda p: {("budget", "Procurement plan")}),
    "start before predecessor": (_early_start, lambda p: {("dates", f"Schedule {_first_waiting_leaf(p)}")}),
    "milestone after the end": (
        _late_milestone,
        lambda p: {("dates", f"Project plan milestone '{p.plan.milestones[-1].name}'")},
    ),
    "risk without owner": (
        lambda p: _set_risk(p, 0, owner_role=" "),
        lambda p: {("owners", f"Risk register {p.risks.risks[0].id}")},
    ),
    "package without accountable": (_raci_gap, lambda p: {("owners", f"RACI {p.raci.rows[1].package_id}")}),
    "risk without mitigation": (
        lambda p: _set_risk(p, 1, mitigation="TBD"),
        lambda p: {("risks", f"Risk register {p.risks.risks[1].id}")},
    ),
    "work before its permit": (
        _permit_late,
        lambda p: {
            (
                "permits",
                f"Schedule {next(i for i in p.schedule.items if i.level > 1 and i.start_day == 0).id}",
            )
        },
    ),
}


@pytest.mark.parametrize("plant", list(PLANTS))
def test_a_planted_inconsistency_is_found_where_it_is(clean: AuditInputs, plant: str) -> None:
    spoil, expected = PLANTS[plant]
    found = run_checks(spoil(clean))
    assert {(f.check, f.where) for f in found} == expected(clean)
    assert all(f.source == "check" and f.finding and f.fix for f in found)


PLANTED_BUDGET = BudgetOutput(
    currency="DKK",
    phases=[
        PhaseBudget(
            phase_id="1",
            phase="Premises and permits",
            labour=100_000,
            materials=50_000,
            other=0,
            total=999_999,
        )
    ],
    subtotal=999_999,
    contingency_percent=10,
    contingency=99_999.9,
    total=1_099_998.9,
    outline_total=1_099_998.9,
    variance_percent=0,
    verdict="consistent",
)


def plant_budget(run_dir: Path) -> None:
    envelope = {"step": "budget", "title": Budget.heading(), "offline": True, "models": [], "created_at": 0,
                "data": PLANTED_BUDGET.model_dump(mode="json")}  # fmt: skip
    (run_dir / Budget.output_filename()).write_text(json.dumps(envelope))


@pytest.fixture(scope="module")
def spoilt(tmp_path_factory: pytest.TempPathFactory) -> RecordedPlan:
    return record_plan(tmp_path_factory.mktemp("spoilt"), prepare=plant_budget)


def test_a_plan_whose_budget_does_not_add_up_is_told_so_in_its_report(spoilt: RecordedPlan) -> None:
    audit: SelfAuditOutput = SelfAudit(run_dir=str(spoilt.run_dir)).load(SelfAudit)
    phase = next(f for f in audit.findings if f.where == "Budget phase 1")
    assert phase.severity == "high" and "999,999 DKK" in phase.finding and "150,000 DKK" in phase.finding
    assert audit.counts.high >= 1 and audit.checks_run
    # The model's part is told what the checks found, and the report shows where.
    assert "Budget phase 1: Phase 'Premises and permits' totals 999,999 DKK" in spoilt.sent_by("self_audit")
    report = (spoilt.run_dir / "report.html").read_text()
    section = report[report.index('id="self_audit"') :]
    assert "Budget phase 1" in section and "Premises and permits" in section


def test_it_runs_beside_the_review_and_the_summary_reads_it(recorded_plan: RecordedPlan) -> None:
    rounds, path = dag.critical_path("full")
    assert SelfAudit not in path and rounds == dag.CRITICAL_PATH_BUDGET
    assert SECTIONS[-1] is SelfAudit
    summary = recorded_plan.sent_by("executive_summary")
    assert f"## {SelfAudit.heading()}" in summary and "findings (" in summary
