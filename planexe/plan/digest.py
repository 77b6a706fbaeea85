"""A compact digest of the plan (no LLM), quoted by the closing steps instead of every section."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, Field

from planexe.pipeline.base import PlanTask
from planexe.plan.assessment import AssessmentOutput, PreProjectAssessment
from planexe.plan.assumptions import ConsolidateAssumptions, ConsolidatedAssumptions
from planexe.plan.budget import Budget, BudgetOutput
from planexe.plan.compliance import Compliance, ComplianceOutput
from planexe.plan.data_collection import DataCollection, DataCollectionOutput
from planexe.plan.documents import FilterDocumentsToCreate, FilterDocumentsToFind, FilteredDocuments
from planexe.plan.experts import ExpertReview, ExpertReviewOutput
from planexe.plan.governance import Governance, GovernanceOutput
from planexe.plan.locations import Currency, CurrencyOutput, LocationsOutput, PhysicalLocations
from planexe.plan.premise import ChallengePremise, PremiseChallengeOutput
from planexe.plan.procurement import ProcurementOutput, ProcurementPlan
from planexe.plan.project_plan import ProjectPlan, ProjectPlanOutput
from planexe.plan.purpose import DeterminePlanType, IdentifyPurpose, PlanTypeOutput, PurposeOutput
from planexe.plan.risks import RiskRegister, RiskRegisterOutput
from planexe.plan.schedule import Schedule, ScheduleOutput
from planexe.plan.stakeholders import Stakeholders, StakeholdersOutput
from planexe.plan.strategy import Scenarios, ScenariosOutput
from planexe.plan.swot import Swot, SwotOutput
from planexe.plan.team import Team, TeamOutput
from planexe.plan.text import bullets, short

TOP_RISKS = 6
QUOTED_ITEMS = 4  # items of each list the closing steps' prompts quote
QUOTED_ITEM_CHARS = 150
# Quoted by every closing step that asks for only part of the digest.
ESSENTIALS = frozenset(
    {
        "title",
        "purpose",
        "goal",
        "strategy",
        "locations",
        "currency",
        "assessment",
        "budget",
        "schedule",
        "phases",
    }
)
TOP_CONCERNS = 6
CONFIDENCE_ORDER = {"low": 0, "medium": 1, "high": 2}


class PlanDigestOutput(BaseModel):
    title: str
    purpose: str
    goal: str
    # The newer fields have defaults: a run directory made before them keeps its digest readable.
    strategy: str = Field(default="", description="The chosen scenario: its name, strategy and decisions.")
    locations: list[str]
    currency: str
    assessment: str
    objectives: list[str]
    scope_in: list[str]
    scope_out: list[str]
    deliverables: list[str]
    milestones: list[str]
    budget: str = Field(description="Bottom-up budget against the plan's outline.")
    schedule: str = Field(description="Duration and critical path.")
    phases: list[str] = Field(description="Each phase with its days.")
    key_assumptions: list[str] = Field(description="Least certain first.")
    top_risks: list[str]
    governance: list[str]
    stakeholders: list[str] = Field(description="The most influential stakeholders.")
    team: list[str]
    team_gaps: list[str]
    swot: list[str]
    expert_concerns: list[str] = Field(description="Most severe first.")
    compliance: list[str]
    procurement: list[str]
    key_documents: list[str]
    data_to_collect: list[str]
    premise: list[str] = Field(
        default_factory=list,
        description="The challenge to the premise: its verdict, then what must be true.",
    )
    premise_objections: list[str] = Field(
        default_factory=list, description="The strongest objections to the premise."
    )

    def prompt_digest(self, only: Iterable[str] = ()) -> str:
        """The digest as the closing steps read it: each list cut to its first items, each item short.

        ``only`` names the fields a step needs besides the ``ESSENTIALS``; empty: every field.
        """
        wanted = set(only)
        unknown = wanted - set(type(self).model_fields)
        if unknown:
            raise ValueError(f"not fields of the plan digest: {sorted(unknown)}")
        lines: list[str] = []
        for name, value in self.model_dump().items():
            if wanted and name not in wanted and name not in ESSENTIALS:
                continue
            label = name.replace("_", " ").capitalize()
            if isinstance(value, list):
                items = [short(str(v), QUOTED_ITEM_CHARS) for v in value[:QUOTED_ITEMS]]
                if items:
                    lines.append(f"{label}:\n{bullets(items)}")
            elif value:
                lines.append(f"{label}: {value}")
        return "\n".join(lines)


def money(amount: float, currency: str) -> str:
    return f"{amount:,.0f} {currency}"


class PlanDigest(PlanTask):
    title = "Plan digest"
    depends_on = (
        IdentifyPurpose,
        DeterminePlanType,
        PhysicalLocations,
        Currency,
        ConsolidateAssumptions,
        RiskRegister,
        PreProjectAssessment,
        ProjectPlan,
        Governance,
        Stakeholders,
        Team,
        Swot,
        ExpertReview,
        DataCollection,
        Compliance,
        ProcurementPlan,
        FilterDocumentsToFind,
        FilterDocumentsToCreate,
        Budget,
        Schedule,
        ChallengePremise,
        Scenarios,
    )
    output_model = PlanDigestOutput

    async def produce(self) -> PlanDigestOutput:
        purpose: PurposeOutput = self.load(IdentifyPurpose)
        plan_type: PlanTypeOutput = self.load(DeterminePlanType)
        locations: LocationsOutput = self.load(PhysicalLocations)
        currency: CurrencyOutput = self.load(Currency)
        assumptions: ConsolidatedAssumptions = self.load(ConsolidateAssumptions)
        risks: RiskRegisterOutput = self.load(RiskRegister)
        assessment: AssessmentOutput = self.load(PreProjectAssessment)
        plan: ProjectPlanOutput = self.load(ProjectPlan)
        governance: GovernanceOutput = self.load(Governance)
        stakeholders: StakeholdersOutput = self.load(Stakeholders)
        team: TeamOutput = self.load(Team)
        swot: SwotOutput = self.load(Swot)
        experts: ExpertReviewOutput = self.load(ExpertReview)
        data: DataCollectionOutput = self.load(DataCollection)
        compliance: ComplianceOutput = self.load(Compliance)
        procurement: ProcurementOutput = self.load(ProcurementPlan)
        to_find: FilteredDocuments = self.load(FilterDocumentsToFind)
        to_create: FilteredDocuments = self.load(FilterDocumentsToCreate)
        budget: BudgetOutput = self.load(Budget)
        schedule: ScheduleOutput = self.load(Schedule)
        premise: PremiseChallengeOutput = self.load(ChallengePremise)
        scenarios: ScenariosOutput = self.load(Scenarios)

        code = currency.currency
        path = " → ".join(schedule.critical_path_names)
        ordered_assumptions = sorted(assumptions.assumptions, key=lambda a: CONFIDENCE_ORDER[a.confidence])
        influential = [
            s for s in stakeholders.stakeholders if s.influence == "high"
        ] or stakeholders.stakeholders[:3]
        return PlanDigestOutput(
            title=purpose.project_title,
            purpose=f"{purpose.purpose}, {plan_type.plan_type}: {purpose.goal_sentence}",
            goal=plan.goal,
            strategy=scenarios.strategy_line(),
            locations=[f"{loc.name} ({loc.city_or_region}, {loc.country})" for loc in locations.locations],
            currency=code,
            assessment=f"{assessment.verdict} (readiness {assessment.readiness_score}/10): {assessment.verdict_reason}",
            objectives=[
                f"{o.objective} [{o.target} within {o.deadline_months} months]" for o in plan.smart_objectives
            ],
            scope_in=plan.scope_in,
            scope_out=plan.scope_out,
            deliverables=[d.name for d in plan.deliverables],
            milestones=[f"{m.name} (week {m.due_week})" for m in plan.milestones],
            budget=(
                f"Bottom-up {money(budget.total, code)} including {budget.contingency_percent:g} % contingency; "
                f"plan outline {money(budget.outline_total, code)} ({budget.variance_percent:+.1f} %, "
                f"{budget.verdict.replace('_', ' ')}). Team at peak: {team.headcount} people, "
                f"{money(team.monthly_cost, code)} a month."
            ),
            schedule=f"{schedule.total_duration_days:g} days; critical path: {path}",
            phases=[
                f"{i.id} {i.name}: day {i.start_day:g} to {i.finish_day:g}"
                for i in schedule.items
                if i.level == 1
            ],
            key_assumptions=[f"{a.statement} (confidence {a.confidence})" for a in ordered_assumptions[:8]],
            top_risks=[f"{r.title} ({r.severity}): {r.mitigation}" for r in risks.risks[:TOP_RISKS]],
            governance=[f"{b.name}, meets {b.meets}: {b.responsibilities}" for b in governance.bodies],
            stakeholders=[f"{s.name}: {s.needs}" for s in influential],
            team=[f"{m.title} ×{m.headcount} ({m.contract_type.replace('_', ' ')})" for m in team.members],
            team_gaps=[f"{f.issue} Fix: {f.fix}" for f in team.findings],
            swot=[
                *(f"Strength: {p.point}" for p in swot.strengths),
                *(f"Weakness: {p.point}" for p in swot.weaknesses),
                *(f"Opportunity: {p.point}" for p in swot.opportunities),
                *(f"Threat: {p.point}" for p in swot.threats),
            ],
            expert_concerns=[
                f"{c.issue} ({c.severity}, {c.expert})" for c in experts.concerns[:TOP_CONCERNS]
            ],
            compliance=[
                f"{o.requirement} from {o.authority}, {o.lead_time_weeks:g} weeks, before {o.needed_before}"
                for o in compliance.obligations
            ],
            procurement=[
                f"{p.item}: {money(p.estimated_cost, code)}, order by week {p.order_by_week}, "
                f"{p.lead_time_weeks:g} weeks lead time"
                for p in procurement.items
            ],
            key_documents=[d.name for d in to_find.documents + to_create.documents],
            data_to_collect=[f"{d.data} (week {d.needed_by_week})" for d in data.items],
            premise=[f"Verdict {premise.verdict}: {premise.verdict_reason}", *premise.conditions()],
            premise_objections=[
                f"{o.angle.replace('_', ' ')} ({o.strength}): {o.argument}" for o in premise.objections
            ],
        )


def digest_brief(task: PlanTask, fields: Iterable[str] = ()) -> str:
    """The standard brief with only part of the plan digest: the ``ESSENTIALS`` and ``fields``."""
    digest: PlanDigestOutput = task.load(PlanDigest)
    return f"# Project description\n{task.plan.prompt}\n\n## {PlanDigest.heading()}\n{digest.prompt_digest(fields)}"
