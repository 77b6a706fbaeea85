"""The self-audit's checks that code can make: owners, dates, sums, mitigations, permit lead times.

Each check reads the finished plan's outputs and returns findings that say where
the problem is (the section and the item). They are exact where the plan is
numbers (a budget that does not add up, a task that starts before what it waits
for, a milestone after the last day) and deliberately simple where it is text
(a permit is matched to the scheduled item it must precede by shared words).
The model's part of the audit (``audit.py``) judges what these cannot.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from planexe.plan.budget import BudgetOutput, CostEstimatesOutput
from planexe.plan.compliance import ComplianceOutput
from planexe.plan.data_collection import DataCollectionOutput
from planexe.plan.procurement import ProcurementOutput
from planexe.plan.project_plan import ProjectPlanOutput, budget_total
from planexe.plan.risks import RiskRegisterOutput
from planexe.plan.schedule import ScheduleOutput
from planexe.plan.team import RaciOutput
from planexe.plan.wbs import WbsOutput

Check = Literal["owners", "dates", "budget", "risks", "permits", "consistency"]
AuditSeverity = Literal["high", "medium", "low"]
SEVERITY_ORDER: dict[str, int] = {"high": 0, "medium": 1, "low": 2}

DAYS_PER_WEEK = 7
MONEY_TOLERANCE = 0.0001  # relative: the steps round to cents, far below this
DAY_TOLERANCE = 0.01  # days
PLACEHOLDERS = frozenset({"", "tbd", "tba", "n/a", "na", "none", "todo", "-", "?", "unknown"})
MIN_MITIGATION_CHARS = 12  # shorter than this is a label, not an action
PERMIT_MATCH = 0.5  # share of the words of "needed before" that a scheduled item's name must share


class Finding(BaseModel):
    check: Check = Field(description="Which planning failure it is.")
    where: str = Field(description="The section and the item, e.g. 'Risk register R3'.")
    finding: str = Field(description="What is wrong.")
    fix: str = Field(description="How to fix it.")
    severity: AuditSeverity
    source: Literal["check", "review"] = Field(
        description="check: found by code; review: judged by the model."
    )


@dataclass(frozen=True)
class AuditInputs:
    """The finished plan's outputs the checks read."""

    plan: ProjectPlanOutput
    schedule: ScheduleOutput
    budget: BudgetOutput
    costs: CostEstimatesOutput
    risks: RiskRegisterOutput
    compliance: ComplianceOutput
    procurement: ProcurementOutput
    data: DataCollectionOutput
    raci: RaciOutput
    wbs: WbsOutput


def _found(check: Check, where: str, finding: str, fix: str, severity: AuditSeverity) -> Finding:
    return Finding(check=check, where=where, finding=finding, fix=fix, severity=severity, source="check")


def _blank(text: str) -> bool:
    return text.strip().strip(".").lower() in PLACEHOLDERS


def _differs(actual: float, expected: float) -> bool:
    return abs(actual - expected) > max(1.0, abs(expected) * MONEY_TOLERANCE)


def _money(amount: float, currency: str) -> str:
    return f"{amount:,.0f} {currency}"


def check_owners(p: AuditInputs) -> list[Finding]:
    out = []
    for risk in p.risks.risks:
        if _blank(risk.owner_role):
            out.append(
                _found("owners", f"Risk register {risk.id}", f"Risk '{risk.title}' has no owner.",
                       "Name the role that watches its warning sign and acts on it.", "medium")
            )  # fmt: skip
    for item in p.wbs.items:
        if item.level == 3 and _blank(item.owner_role):
            out.append(
                _found("owners", f"Work breakdown {item.id}", f"Task '{item.name}' has no owner.",
                       "Give the task a role from the team.", "medium")
            )  # fmt: skip
    rows = {row.package_id: row for row in p.raci.rows}
    for item in p.wbs.items:
        if item.level != 2:
            continue
        row = rows.get(item.id)
        if row is None or _blank(row.accountable) or _blank(row.responsible):
            missing = "accountable" if row is None or _blank(row.accountable) else "responsible"
            out.append(
                _found("owners", f"RACI {item.id}", f"Work package '{item.name}' has no {missing} role.",
                       f"Assign one {missing} role to the package in the RACI.", "high")
            )  # fmt: skip
    return out


def check_dates(p: AuditInputs) -> list[Finding]:
    out = []
    items = {item.id: item for item in p.schedule.items}
    end = p.schedule.total_duration_days
    for item in p.schedule.items:
        if (
            item.finish_day + DAY_TOLERANCE < item.start_day
            or abs(item.finish_day - item.start_day - item.duration_days) > DAY_TOLERANCE
        ):
            out.append(
                _found("dates", f"Schedule {item.id}",
                       f"'{item.name}' runs from day {item.start_day:g} to day {item.finish_day:g}, which does "
                       f"not fit its {item.duration_days:g} days.",
                       "Recompute the item's dates from its duration.", "high")
            )  # fmt: skip
        for dep in item.depends_on:
            before = items.get(dep)
            if before is not None and item.start_day + DAY_TOLERANCE < before.finish_day:
                out.append(
                    _found("dates", f"Schedule {item.id}",
                           f"'{item.name}' starts on day {item.start_day:g}, before '{before.name}' ({dep}), "
                           f"which it waits for, finishes on day {before.finish_day:g}.",
                           f"Start it on day {before.finish_day:g} or later, or drop the dependency.", "high")
                )  # fmt: skip
    previous = -1
    for milestone in p.plan.milestones:
        day = milestone.due_week * DAYS_PER_WEEK
        if day > end + DAYS_PER_WEEK:
            out.append(
                _found("dates", f"Project plan milestone '{milestone.name}'",
                       f"Due in week {milestone.due_week} (day {day}), after the schedule ends on day {end:g}.",
                       "Move the milestone into the schedule, or add the work that leads to it.", "medium")
            )  # fmt: skip
        if milestone.due_week < previous:
            out.append(
                _found("dates", f"Project plan milestone '{milestone.name}'",
                       f"Due in week {milestone.due_week}, before the milestone listed ahead of it "
                       f"(week {previous}).",
                       "Put the milestones in time order, or correct the weeks.", "low")
            )  # fmt: skip
        previous = max(previous, milestone.due_week)
    for proc in p.procurement.items:
        arrives = (proc.order_by_week + proc.lead_time_weeks) * DAYS_PER_WEEK
        if arrives > end:
            out.append(
                _found("dates", f"Procurement '{proc.item}'",
                       f"Ordered in week {proc.order_by_week} with {proc.lead_time_weeks:g} weeks' lead time, "
                       f"it arrives on day {arrives:g}, after the schedule ends on day {end:g}.",
                       "Order it earlier or plan the work that needs it later.", "medium")
            )  # fmt: skip
    for data in p.data.items:
        if data.needed_by_week * DAYS_PER_WEEK > end:
            out.append(
                _found("dates", f"Data collection '{data.data}'",
                       f"Needed by week {data.needed_by_week}, after the schedule ends on day {end:g}.",
                       "Collect it within the project, or drop it if the decision it informs is made earlier.",
                       "low")
            )  # fmt: skip
    return out


def check_budget(p: AuditInputs) -> list[Finding]:
    out = []
    outline, code = p.plan.budget, p.budget.currency
    expected = budget_total(outline)
    if _differs(p.plan.budget_total, expected):
        out.append(
            _found("budget", "Project plan budget",
                   f"The outline's total is {_money(p.plan.budget_total, code)}, but its lines plus "
                   f"{outline.contingency_percent:g} % contingency come to {_money(expected, code)}.",
                   "Recompute the total from the lines and the contingency.", "high")
        )  # fmt: skip
    for phase in p.budget.phases:
        parts = phase.labour + phase.materials + phase.other
        if _differs(phase.total, parts):
            out.append(
                _found("budget", f"Budget phase {phase.phase_id}",
                       f"Phase '{phase.phase}' totals {_money(phase.total, code)}, but its labour, materials "
                       f"and other costs add up to {_money(parts, code)}.",
                       "Recompute the phase total.", "high")
            )  # fmt: skip
    phases = sum(ph.total for ph in p.budget.phases)
    packages = sum(c.total for c in p.costs.work_packages)
    sums = [
        ("subtotal", p.budget.subtotal, phases, "the phases"),
        ("subtotal", p.budget.subtotal, packages, "the cost estimates of the work packages"),
        ("contingency", p.budget.contingency, p.budget.subtotal * p.budget.contingency_percent / 100,
         f"{p.budget.contingency_percent:g} % of the subtotal"),
        ("total", p.budget.total, p.budget.subtotal + p.budget.contingency, "the subtotal plus contingency"),
    ]  # fmt: skip
    for name, actual, want, basis in sums:
        if _differs(actual, want):
            out.append(
                _found("budget", f"Budget {name}",
                       f"The {name} is {_money(actual, code)}, but {basis} come to {_money(want, code)}.",
                       f"Recompute the {name}.", "high")
            )  # fmt: skip
    if p.budget.verdict != "consistent":
        side = "above" if p.budget.verdict == "above_outline" else "below"
        out.append(
            _found("budget", "Budget",
                   f"The bottom-up total {_money(p.budget.total, code)} is {abs(p.budget.variance_percent):g} % "
                   f"{side} the plan's outline of {_money(p.budget.outline_total, code)}.",
                   "Reconcile the outline with the estimates before funding is asked for.", "medium")
        )  # fmt: skip
    bought = sum(item.estimated_cost for item in p.procurement.items)
    if bought > p.budget.total * (1 + MONEY_TOLERANCE):
        out.append(
            _found("budget", "Procurement plan",
                   f"The items to procure cost {_money(bought, code)}, more than the whole budget of "
                   f"{_money(p.budget.total, code)}.",
                   "Raise the budget or cut the purchases.", "high")
        )  # fmt: skip
    if outline.currency.strip().upper() != code.strip().upper():
        out.append(
            _found("budget", "Project plan budget",
                   f"The outline is in {outline.currency} but the budget is kept in {code}.",
                   "Use one currency, or convert the outline at a stated rate.", "medium")
        )  # fmt: skip
    return out


def check_risks(p: AuditInputs) -> list[Finding]:
    out = []
    for risk in p.risks.risks:
        if _blank(risk.mitigation) or len(risk.mitigation.strip()) < MIN_MITIGATION_CHARS:
            severity: AuditSeverity = "high" if risk.severity in ("critical", "high") else "medium"
            out.append(
                _found("risks", f"Risk register {risk.id}",
                       f"Risk '{risk.title}' ({risk.severity}) has no real mitigation: '{risk.mitigation}'.",
                       "Write the action that lowers its likelihood or impact, with when it is taken.", severity)
            )  # fmt: skip
    return out


def _words(text: str) -> frozenset[str]:
    return frozenset(w for w in re.findall(r"\w+", text.lower()) if len(w) > 3)


def check_permits(p: AuditInputs) -> list[Finding]:
    out = []
    end = p.schedule.total_duration_days
    scheduled = [item for item in p.schedule.items if item.level > 1]
    for duty in p.compliance.obligations:
        lead_days = duty.lead_time_weeks * DAYS_PER_WEEK
        if lead_days > end:
            out.append(
                _found("permits", f"Permits and compliance '{duty.requirement}'",
                       f"It takes {duty.lead_time_weeks:g} weeks to obtain, longer than the whole schedule "
                       f"({end:g} days).",
                       "Apply before the project starts, or plan the work that needs it after the decision.",
                       "high")
            )  # fmt: skip
            continue
        wanted = _words(duty.needed_before)
        match = None
        if wanted:
            scored = [(len(wanted & _words(item.name)) / len(wanted), item) for item in scheduled]
            best = max(scored, key=lambda s: s[0], default=(0.0, None))
            match = best[1] if best[0] >= PERMIT_MATCH else None
        if match is not None and match.start_day < lead_days:
            out.append(
                _found("permits", f"Schedule {match.id}",
                       f"'{match.name}' starts on day {match.start_day:g}, but it needs '{duty.requirement}', "
                       f"which takes {duty.lead_time_weeks:g} weeks ({lead_days:g} days) from application.",
                       f"Apply for it at the start and begin '{match.name}' on day {lead_days:g} or later.",
                       "high")
            )  # fmt: skip
    return out


CHECKS: tuple[tuple[str, Callable[[AuditInputs], list[Finding]]], ...] = (
    ("owners: every risk, task and work package has one", check_owners),
    (
        "dates: schedule arithmetic, dependencies, milestones, orders and data within the schedule",
        check_dates,
    ),
    ("budget: the outline, phases, subtotal, contingency and total add up; procurement fits", check_budget),
    ("risks: every risk has a real mitigation", check_risks),
    ("permits: lead times fit the schedule and the work that needs them", check_permits),
)


def run_checks(inputs: AuditInputs) -> list[Finding]:
    """Every check's findings, most severe first (stable within a severity)."""
    found = [finding for _, check in CHECKS for finding in check(inputs)]
    return sorted(found, key=lambda f: SEVERITY_ORDER[f.severity])
