"""Bottom-up cost estimate (one call per phase) and the budget that rolls it up in code."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from planexe.pipeline.base import PlanTask
from planexe.plan.common import compact, system_prompt
from planexe.plan.locations import Currency, CurrencyOutput, PhysicalLocations
from planexe.plan.project_plan import ProjectPlan, ProjectPlanOutput
from planexe.plan.text import Sentence
from planexe.plan.wbs import (
    PACKAGES_PER_PHASE,
    PHASES,
    PackageRef,
    WbsLevel1,
    WbsLevel1Output,
    WbsLevel2,
    package_refs,
)

BUDGET_TOLERANCE_PERCENT = 10.0  # bottom-up within ±10 % of the outline counts as consistent

COST_SYSTEM = system_prompt("""\
You are a cost estimator pricing one phase of the project (given at the end of the message) bottom \
up. For each of its work packages, in the order listed, estimate the labour cost, the cost of \
materials and equipment, and other costs (fees, permits, rent, travel, services) in the plan's \
currency at the price level of the project's location. State the basis of each estimate \
("2 carpenters for 3 weeks at 450 DKK/h"). Do not add contingency: it is added separately. Use the \
budget outline of the project plan as a sanity check, not as a target.""")


class PackageCost(BaseModel):
    labour: float = Field(ge=0, description="Labour cost in the plan's currency.")
    materials: float = Field(ge=0, description="Materials and equipment cost in the plan's currency.")
    other: float = Field(ge=0, description="Fees, permits, rent, travel and services in the plan's currency.")
    basis: Sentence = Field(description="How the figures were estimated.")


class PhaseCostAnswer(BaseModel):
    work_packages: list[PackageCost] = Field(
        min_length=PACKAGES_PER_PHASE, max_length=PACKAGES_PER_PHASE, description="One per package, in order."
    )


class PackageCostEntry(PackageCost):
    package_id: str
    package_name: str
    total: float = Field(ge=0)


class CostEstimatesOutput(BaseModel):
    currency: str
    work_packages: list[PackageCostEntry]


class PhaseBudget(BaseModel):
    phase_id: str
    phase: str
    labour: float = Field(ge=0)
    materials: float = Field(ge=0)
    other: float = Field(ge=0)
    total: float = Field(ge=0)


class BudgetOutput(BaseModel):
    currency: str
    phases: list[PhaseBudget]
    subtotal: float = Field(ge=0, description="Sum of the phases.")
    contingency_percent: float = Field(ge=0, description="Taken from the project plan's budget outline.")
    contingency: float = Field(ge=0)
    total: float = Field(ge=0, description="Subtotal plus contingency.")
    outline_total: float = Field(ge=0, description="The project plan's budget outline, contingency included.")
    variance_percent: float = Field(description="Bottom-up total against the outline, in percent.")
    verdict: Literal["consistent", "above_outline", "below_outline"] = Field(
        description=f"Whether the bottom-up total is within ±{BUDGET_TOLERANCE_PERCENT:g} % of the outline."
    )


def roll_up(
    level1: WbsLevel1Output, costs: CostEstimatesOutput, contingency_percent: float, outline_total: float
) -> BudgetOutput:
    phases = []
    for p, phase in enumerate(level1.phases, start=1):
        mine = [c for c in costs.work_packages if c.package_id.split(".")[0] == str(p)]
        labour, materials, other = (
            round(sum(getattr(c, f) for c in mine), 2) for f in ("labour", "materials", "other")
        )
        phases.append(
            PhaseBudget(
                phase_id=str(p),
                phase=phase.name,
                labour=labour,
                materials=materials,
                other=other,
                total=round(labour + materials + other, 2),
            )
        )
    subtotal = round(sum(p.total for p in phases), 2)
    contingency = round(subtotal * contingency_percent / 100, 2)
    total = round(subtotal + contingency, 2)
    variance = round((total - outline_total) / outline_total * 100, 1) if outline_total > 0 else 0.0
    verdict: Literal["consistent", "above_outline", "below_outline"] = "consistent"
    if variance > BUDGET_TOLERANCE_PERCENT:
        verdict = "above_outline"
    elif variance < -BUDGET_TOLERANCE_PERCENT:
        verdict = "below_outline"
    return BudgetOutput(
        currency=costs.currency,
        phases=phases,
        subtotal=subtotal,
        contingency_percent=contingency_percent,
        contingency=contingency,
        total=total,
        outline_total=outline_total,
        variance_percent=variance,
        verdict=verdict,
    )


class CostEstimates(PlanTask):
    title = "Cost estimates"
    depends_on = (ProjectPlan, PhysicalLocations, Currency, WbsLevel1, WbsLevel2)
    output_model = CostEstimatesOutput
    system_prompt = COST_SYSTEM
    calls_full = PHASES
    batched = True

    async def produce(self) -> CostEstimatesOutput:
        refs = package_refs(self.load(WbsLevel1), self.load(WbsLevel2))
        currency: CurrencyOutput = self.load(Currency)
        context = self.brief(ProjectPlan, PhysicalLocations, Currency)

        async def price(phase_id: str) -> list[PackageCostEntry]:
            packages: list[PackageRef] = [r for r in refs if r.phase_id == phase_id]
            listing = "\n".join(compact(r) for r in packages)
            user = f"{context}\n\n# The phase to price: {packages[0].phase_name}\n{listing}"
            answer = await self.ask(self.system_prompt, user, PhaseCostAnswer, label=f"phase {phase_id}")
            return [
                PackageCostEntry(
                    **cost.model_dump(),
                    package_id=ref.id,
                    package_name=ref.name,
                    total=round(cost.labour + cost.materials + cost.other, 2),
                )
                for ref, cost in zip(packages, answer.work_packages, strict=True)
            ]

        phase_ids = list(dict.fromkeys(r.phase_id for r in refs))
        per_phase = await self.batch(phase_ids, price)
        return CostEstimatesOutput(
            currency=currency.currency, work_packages=[c for ph in per_phase for c in ph]
        )


class Budget(PlanTask):
    title = "Budget"
    depends_on = (ProjectPlan, WbsLevel1, CostEstimates)
    output_model = BudgetOutput

    async def produce(self) -> BudgetOutput:
        plan: ProjectPlanOutput = self.load(ProjectPlan)
        return roll_up(
            self.load(WbsLevel1), self.load(CostEstimates), plan.budget.contingency_percent, plan.budget_total
        )
