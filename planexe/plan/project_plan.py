"""The project plan: charter (goal, objectives, scope, deliverables) and targets (success, milestones,
budget), asked as two concurrent calls on the same brief and merged."""

from __future__ import annotations

from typing import cast

from pydantic import BaseModel, Field

from planexe.pipeline.base import LLMStep, PlanTask
from planexe.plan.assessment import PreProjectAssessment
from planexe.plan.assumptions import ConsolidateAssumptions
from planexe.plan.common import system_prompt
from planexe.plan.locations import Currency, PhysicalLocations
from planexe.plan.purpose import IdentifyPurpose
from planexe.plan.risks import RiskRegister
from planexe.plan.strategy import Scenarios, ScenariosOutput
from planexe.plan.text import Code, Label, Phrase, Sentence, bullets

CHARTER_SYSTEM = system_prompt("""\
You are an experienced project manager writing the core of the project plan: the charter. Use the \
description and the earlier sections (purpose, locations, currency, consolidated assumptions, risk \
register, pre-project assessment) and honour the assessment's conditions.

Write:
- goal: one sentence stating the outcome and by when;
- smart_objectives: specific, measurable, achievable, relevant and time-bound, each with its \
metric, target value and deadline in months from the start;
- scope_in and scope_out: concrete work items, so a team member can tell whether a task belongs to \
the project; scope_out names tempting things that are deliberately left out;
- deliverables: the tangible results handed over, each with how its acceptance is checked.
Use the numbers from the assumptions (budget, dates, sizes) so the plan agrees with them. Plan the \
chosen strategy (the scenario quoted): its decisions on every lever are settled, not options.""")

TARGETS_SYSTEM = system_prompt("""\
You are a project controller defining how this project will be steered and measured. Use the \
description and the earlier sections (purpose, locations, currency, consolidated assumptions, risk \
register, pre-project assessment).

Write:
- success_criteria: how the sponsor will judge success at the end, each with its measure and target;
- milestones: the key checkpoints in time order, each with the week it is due (counted from the \
start) and the evidence that it has been reached;
- budget: the main cost categories with amounts in the plan's currency, the contingency percentage \
and where the money comes from. Keep the amounts consistent with the budget assumption; where there \
is none, estimate from comparable projects and say so in the notes.
Be realistic about time: permits, hiring, procurement and fit-out take longer than optimists expect. \
Measure and budget the chosen strategy (the scenario quoted), not the alternatives it rejected.""")


class SmartObjective(BaseModel):
    objective: Sentence = Field(description="The objective in one sentence.")
    metric: Phrase = Field(description="How it is measured.")
    target: Phrase = Field(description="The value that counts as achieved, e.g. '400 loaves a day'.")
    deadline_months: int = Field(ge=1, le=120, description="Months from the start by which it is achieved.")


class Deliverable(BaseModel):
    name: Label = Field(description="Name of the deliverable.")
    description: Sentence = Field(description="What it is.")
    acceptance_criterion: Sentence = Field(description="How its acceptance is checked.")


class ProjectCharter(BaseModel):
    goal: Sentence = Field(description="One sentence: the outcome and by when.")
    smart_objectives: list[SmartObjective] = Field(min_length=3, max_length=5)
    scope_in: list[Phrase] = Field(
        min_length=3, max_length=6, description="Work that belongs to the project."
    )
    scope_out: list[Phrase] = Field(min_length=2, max_length=5, description="Work deliberately left out.")
    deliverables: list[Deliverable] = Field(min_length=3, max_length=6)


class SuccessCriterion(BaseModel):
    criterion: Sentence = Field(description="What success means, in one sentence.")
    measure: Phrase = Field(description="How it is measured.")
    target: Phrase = Field(description="The value that counts as success.")


class Milestone(BaseModel):
    name: Label = Field(description="The checkpoint, e.g. 'Building permit granted'.")
    due_week: int = Field(ge=0, le=520, description="Week it is due, counted from the start.")
    evidence: Sentence = Field(description="What proves it has been reached.")


class BudgetLine(BaseModel):
    category: Label = Field(description="Cost category, e.g. 'Fit-out and equipment'.")
    amount: float = Field(ge=0, description="Amount in the plan's currency.")
    notes: Sentence = Field(description="What it covers and how it was estimated.")


class BudgetOutline(BaseModel):
    currency: Code = Field(description="ISO 4217 code of the budget currency.")
    lines: list[BudgetLine] = Field(min_length=3, max_length=8)
    contingency_percent: float = Field(
        ge=0, le=50, description="Contingency on top of the lines, in percent."
    )
    funding_sources: list[Phrase] = Field(
        min_length=1, max_length=3, description="Where the money comes from."
    )


class ProjectTargets(BaseModel):
    success_criteria: list[SuccessCriterion] = Field(min_length=3, max_length=5)
    milestones: list[Milestone] = Field(min_length=4, max_length=7, description="In time order.")
    budget: BudgetOutline


class ProjectPlanOutput(ProjectCharter, ProjectTargets):
    budget_total: float = Field(ge=0, description="Sum of the budget lines plus contingency (computed).")
    # The chosen scenario, repeated here so that every step quoting the plan plans it too.
    strategy: str = Field(default="", description="The chosen strategy and its decisions.")

    def prompt_digest(self) -> str:
        """What the twenty steps that quote the plan use: the outcome, scope, dates and money."""
        b = self.budget
        lines = ", ".join(f"{line.category} {line.amount:,.0f}" for line in b.lines)
        return "\n".join(
            [
                *([f"Strategy: {self.strategy}"] if self.strategy else []),
                f"Goal: {self.goal}",
                "Objectives:",
                bullets(
                    f"{o.objective} (target {o.target}, month {o.deadline_months})"
                    for o in self.smart_objectives
                ),
                f"In scope: {'; '.join(self.scope_in)}",
                f"Out of scope: {'; '.join(self.scope_out)}",
                f"Deliverables: {'; '.join(d.name for d in self.deliverables)}",
                f"Milestones: {'; '.join(f'{m.name} (week {m.due_week})' for m in self.milestones)}",
                f"Success: {'; '.join(f'{c.criterion} ({c.target})' for c in self.success_criteria)}",
                f"Budget: {self.budget_total:,.0f} {b.currency} with {b.contingency_percent:g} % contingency "
                f"({lines}); funded by {'; '.join(b.funding_sources)}",
            ]
        )


def budget_total(budget: BudgetOutline) -> float:
    lines = sum(line.amount for line in budget.lines)
    return round(lines * (1 + budget.contingency_percent / 100), 2)


class ProjectPlan(PlanTask):
    title = "Project plan"
    depends_on = (
        IdentifyPurpose,
        PhysicalLocations,
        Currency,
        ConsolidateAssumptions,
        RiskRegister,
        PreProjectAssessment,
        Scenarios,
    )
    output_model = ProjectPlanOutput
    system_prompt = CHARTER_SYSTEM
    calls_full = 2
    batched = True

    async def produce(self) -> ProjectPlanOutput:
        chosen: ScenariosOutput = self.load(Scenarios)
        # The chosen scenario only: the plan is made for it, and the alternatives were weighed already.
        others = (d for d in self.depends_on if d is not Scenarios)
        user = f"{self.brief(*others)}\n\n## {Scenarios.heading()}\n{chosen.chosen_digest()}"

        async def one(part: tuple[str, type[BaseModel]]) -> BaseModel:
            system, model = part
            return await self.ask(system, user, model, label=model.__name__)

        calls: list[tuple[str, type[BaseModel]]] = [
            (CHARTER_SYSTEM, ProjectCharter),
            (TARGETS_SYSTEM, ProjectTargets),
        ]
        parts = await self.batch(calls, one)
        charter, targets = cast(ProjectCharter, parts[0]), cast(ProjectTargets, parts[1])
        return ProjectPlanOutput(
            **charter.model_dump(),
            **targets.model_dump(),
            budget_total=budget_total(targets.budget),
            strategy=chosen.strategy_line(),
        )


class SimilarProject(BaseModel):
    name: Label = Field(
        description="Name of a real project, or a description of a type of project if unsure."
    )
    similarity: Sentence = Field(description="How it resembles this project.")
    outcome: Sentence = Field(description="What happened: success, failure, delays, cost.")
    lesson: Sentence = Field(description="The lesson it teaches.")
    apply_here: Sentence = Field(description="How this project should apply the lesson.")


class SimilarProjectsOutput(BaseModel):
    projects: list[SimilarProject] = Field(min_length=3, max_length=5, description="Most instructive first.")


SIMILAR_SYSTEM = system_prompt("""\
You are a research analyst who knows many real projects. Find earlier projects comparable to this \
one (same kind of work, same place or same scale) and say what this project can learn from them. \
Prefer well-documented real projects and name them. If you are not certain a particular project \
exists, describe it as a type ("independent bakeries opened in Copenhagen since 2015") and do not \
invent names, figures or dates. For each: how it is similar, what happened, the lesson, and how to \
apply it to this plan.""")


class SimilarProjects(LLMStep):
    title = "Similar projects and lessons"
    depends_on = (ProjectPlan, PhysicalLocations)
    output_model = SimilarProjectsOutput
    system_prompt = SIMILAR_SYSTEM
