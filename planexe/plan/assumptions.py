"""Assumptions: made, distilled, reviewed by the LLM, then consolidated in code."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from planexe.pipeline.base import LLMStep, PlanTask
from planexe.plan.common import Level, id_enum, list_of, retype, system_prompt
from planexe.plan.locations import Currency, PhysicalLocations
from planexe.plan.premise import ChallengePremise
from planexe.plan.purpose import DeterminePlanType, IdentifyPurpose
from planexe.plan.risks import RiskRegister
from planexe.plan.strategy import Scenarios
from planexe.plan.text import Brief, Code, Sentence, bullets, short

MAKE_SYSTEM = system_prompt("""\
You are a planning analyst writing down the assumptions this plan will rest on. A project \
description is short, so most of what a plan needs is unstated: budget, timeline, team, permits, \
market, technology, customers, suppliers. Make the assumptions a careful planner needs in order to \
plan at all, each concrete enough to be checked later: give amounts in the project's currency, \
durations in months, numbers of staff, names of places, using the description and the earlier \
sections wherever they allow.

For each assumption say what it is based on and what happens to the plan if it proves wrong. Do not \
restate facts the description already gives, and do not hedge ("maybe", "possibly"): state the \
assumption plainly and leave its judgement to the review.

The challenge to the premise lists what would have to be true for the project to be worth doing: \
make each of those conditions one of your assumptions, with its number, so the plan rests on it \
openly rather than by accident.""")

DISTILL_SYSTEM = system_prompt("""\
You are a senior planner condensing draft assumptions into the set the plan will actually rely on. \
Merge duplicates, drop the trivial ones and those that merely restate the description, and sharpen \
the rest: each distilled assumption is one precise, checkable sentence with its key number. Keep \
those whose failure would change the budget, the schedule or the feasibility.

Rate your confidence that each holds: high (well supported by the description or common knowledge), \
medium (plausible but to be verified), low (a guess the plan depends on: verify it first). Say how \
each can be verified.

The plan follows the chosen strategy (the scenario quoted): keep the assumptions it needs and \
make them consistent with its decisions; drop those that only fit a scenario not taken.""")

REVIEW_SYSTEM = system_prompt("""\
You are an independent reviewer challenging the assumptions of a project plan before money is \
committed. The assumptions are listed with ids (A1, A2, ...). Compare them with the project \
description, the risk register and the challenge to the premise, and find those that are \
unrealistic, too optimistic, inconsistent with each other or with the risks, missing a number, or \
silent about an objection to the premise that the plan depends on.

For each issue name the assumption by its id, explain the problem, rate its severity and write the \
corrected statement the plan should use instead. Then add the important assumptions that are \
missing altogether, in the same concrete style. Be direct; do not praise.""")

Category = Literal[
    "budget",
    "timeline",
    "team",
    "regulation",
    "market",
    "technology",
    "location",
    "stakeholders",
    "operations",
    "other",
]
IssueSeverity = Literal["minor", "major", "critical"]
SEVERITY_RANK: dict[str, int] = {"critical": 0, "major": 1, "minor": 2}


class Assumption(BaseModel):
    category: Category = Field(description="What the assumption is about.")
    statement: Sentence = Field(
        description="The assumption as one concrete sentence with its number or place."
    )
    basis: Sentence = Field(description="Why it is a reasonable assumption.")
    if_wrong: Sentence = Field(description="What happens to the plan if it proves wrong.")


class MakeAssumptionsOutput(BaseModel):
    assumptions: list[Assumption] = Field(min_length=8, max_length=12)


class DistilledAssumption(BaseModel):
    statement: Sentence = Field(description="One precise, checkable sentence with its key number.")
    category: Category = Field(description="What the assumption is about.")
    confidence: Level = Field(description="Confidence that it holds: high, medium or low (verify first).")
    how_to_verify: Sentence = Field(description="How and by whom it can be verified.")


class DistillAssumptionsOutput(BaseModel):
    assumptions: list[DistilledAssumption] = Field(
        min_length=5, max_length=8, description="Most important first."
    )


class AssumptionIssue(BaseModel):
    assumption_id: Code = Field(description="Id of the assumption with the problem, e.g. 'A3'.")
    problem: Sentence = Field(description="What is wrong with it and why.")
    severity: IssueSeverity = Field(description="How much the plan suffers if the problem is not fixed.")
    revised_statement: Sentence = Field(description="The corrected assumption the plan should use instead.")


class MissingAssumption(BaseModel):
    statement: Sentence = Field(description="The missing assumption as one concrete sentence.")
    category: Category = Field(description="What the assumption is about.")
    why_it_matters: Sentence = Field(description="What in the plan depends on it.")


class ReviewAssumptionsOutput(BaseModel):
    issues: list[AssumptionIssue] = Field(min_length=1, max_length=5, description="Most severe first.")
    missing: list[MissingAssumption] = Field(min_length=1, max_length=3)
    verdict: Brief = Field(description="Overall judgement of the assumptions in one or two sentences.")


class FinalAssumption(BaseModel):
    id: str = Field(description="A1, A2, ... as reviewed; added assumptions continue the numbering.")
    statement: str
    category: Category
    confidence: Level
    status: Literal["kept", "revised", "added"] = Field(description="What the review did to it.")
    note: str = Field(description="How to verify it, or the reviewer's objection for a revised one.")


class AssumptionCounts(BaseModel):
    kept: int = Field(ge=0)
    revised: int = Field(ge=0)
    added: int = Field(ge=0)


class ConsolidatedAssumptions(BaseModel):
    assumptions: list[FinalAssumption]
    counts: AssumptionCounts
    review_verdict: str

    def prompt_digest(self) -> str:
        lines = [f"{a.id} [{a.category}, confidence {a.confidence}] {a.statement}" for a in self.assumptions]
        return f"{bullets(lines, limit=len(lines))}\nReview: {short(self.review_verdict, 240)}"


def assumption_ids(count: int) -> list[str]:
    return [f"A{i}" for i in range(1, count + 1)]


def consolidate(
    distilled: list[DistilledAssumption], review: ReviewAssumptionsOutput
) -> ConsolidatedAssumptions:
    """Apply the review: the most severe issue per assumption revises it; missing ones are appended."""
    worst: dict[str, AssumptionIssue] = {}
    for issue in review.issues:
        current = worst.get(issue.assumption_id)
        if current is None or SEVERITY_RANK[issue.severity] < SEVERITY_RANK[current.severity]:
            worst[issue.assumption_id] = issue
    final: list[FinalAssumption] = []
    for aid, item in zip(assumption_ids(len(distilled)), distilled, strict=True):
        found = worst.get(aid)
        if found is not None and found.revised_statement.strip():
            final.append(
                FinalAssumption(
                    id=aid,
                    statement=found.revised_statement.strip(),
                    category=item.category,
                    confidence="low" if found.severity == "critical" else item.confidence,
                    status="revised",
                    note=f"{found.severity}: {found.problem}",
                )
            )
        else:
            final.append(
                FinalAssumption(
                    id=aid,
                    statement=item.statement,
                    category=item.category,
                    confidence=item.confidence,
                    status="kept",
                    note=item.how_to_verify,
                )
            )
    for offset, extra in enumerate(review.missing, start=len(distilled) + 1):
        final.append(
            FinalAssumption(
                id=f"A{offset}",
                statement=extra.statement,
                category=extra.category,
                confidence="low",
                status="added",
                note=extra.why_it_matters,
            )
        )
    counts = AssumptionCounts(
        kept=sum(a.status == "kept" for a in final),
        revised=sum(a.status == "revised" for a in final),
        added=sum(a.status == "added" for a in final),
    )
    return ConsolidatedAssumptions(assumptions=final, counts=counts, review_verdict=review.verdict)


class MakeAssumptions(LLMStep):
    title = "Draft assumptions"
    depends_on = (IdentifyPurpose, DeterminePlanType, PhysicalLocations, Currency, ChallengePremise)
    output_model = MakeAssumptionsOutput
    system_prompt = MAKE_SYSTEM


class DistillAssumptions(LLMStep):
    title = "Distilled assumptions"
    depends_on = (MakeAssumptions, Scenarios)
    output_model = DistillAssumptionsOutput
    system_prompt = DISTILL_SYSTEM


class ReviewAssumptions(LLMStep):
    title = "Assumption review"
    depends_on = (DistillAssumptions, RiskRegister, PhysicalLocations, ChallengePremise)
    output_model = ReviewAssumptionsOutput
    system_prompt = REVIEW_SYSTEM

    def user_prompt(self) -> str:
        distilled: DistillAssumptionsOutput = self.load(DistillAssumptions)
        lines = [
            f"{aid}: {a.statement} ({a.category}, confidence {a.confidence})"
            for aid, a in zip(assumption_ids(len(distilled.assumptions)), distilled.assumptions, strict=True)
        ]
        head = self.brief(PhysicalLocations, RiskRegister, ChallengePremise)
        return f"{head}\n\n# Assumptions to review\n" + "\n".join(lines)

    async def produce(self) -> ReviewAssumptionsOutput:
        distilled: DistillAssumptionsOutput = self.load(DistillAssumptions)
        ids = assumption_ids(len(distilled.assumptions))
        issue = retype(AssumptionIssue, assumption_id=id_enum(ids))
        asked = retype(ReviewAssumptionsOutput, issues=list_of(issue))
        return await self.ask(self.system_prompt, self.user_prompt(), asked)


class ConsolidateAssumptions(PlanTask):
    title = "Assumptions"
    depends_on = (DistillAssumptions, ReviewAssumptions)
    output_model = ConsolidatedAssumptions

    async def produce(self) -> ConsolidatedAssumptions:
        distilled: DistillAssumptionsOutput = self.load(DistillAssumptions)
        return consolidate(distilled.assumptions, self.load(ReviewAssumptions))
