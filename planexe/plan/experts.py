"""Expert review: find a panel, ask each expert for criticism in a batch, consolidate in code."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from planexe.pipeline.base import LLMStep, PlanTask
from planexe.plan.assumptions import ConsolidateAssumptions
from planexe.plan.common import Level, by_detail, system_prompt
from planexe.plan.locations import PhysicalLocations
from planexe.plan.project_plan import ProjectPlan
from planexe.plan.risks import RiskRegister
from planexe.plan.text import Brief, Label, Sentence

PANEL_SIZE = 8
CONSULTED_FULL = PANEL_SIZE
CONSULTED_FAST = 4  # fast detail consults the four most relevant experts

FIND_EXPERTS_SYSTEM = system_prompt(f"""\
You are assembling a review panel for this project plan. Identify exactly {PANEL_SIZE} experts \
whose judgement would most improve it, most relevant first: people who know this kind of project, \
the regulation and market of its location, its technology, its finances and the way such projects \
fail. Describe each by role and field of expertise, never as a named person, and make the panel \
diverse: no two experts with the same angle. For each say what they would scrutinise and the first \
questions they would ask.""")

CRITICISM_SYSTEM = system_prompt("""\
You are the expert described at the end of the message, asked to criticise this project plan before \
it is approved. Read the plan through your own lens and find what is wrong, missing or unrealistic \
there: unfeasible timelines, wrong cost levels, legal or technical requirements that were \
overlooked, assumptions that will not hold. For each concern cite the evidence in the plan, rate \
its severity and give a concrete recommendation. If the plan is sound in your area, say so; do not \
invent problems and do not stray into other experts' fields.""")

SEVERITY_ORDER: dict[str, int] = {"high": 0, "medium": 1, "low": 2}


class Expert(BaseModel):
    title: Label = Field(description="Role and field, e.g. 'Food-safety inspector (Danish regulations)'.")
    expertise: Sentence = Field(description="What they know that this plan needs.")
    focus: Sentence = Field(description="What they would scrutinise in this plan.")
    questions: list[Sentence] = Field(
        min_length=2, max_length=3, description="The first questions they would ask."
    )


class FindExpertsOutput(BaseModel):
    experts: list[Expert] = Field(
        min_length=PANEL_SIZE, max_length=PANEL_SIZE, description="Most relevant first."
    )


class Concern(BaseModel):
    issue: Sentence = Field(description="What is wrong, missing or unrealistic.")
    evidence: Sentence = Field(description="Where the plan shows it.")
    severity: Level = Field(description="How much it endangers the project.")
    recommendation: Sentence = Field(description="The concrete change to make.")


class Critique(BaseModel):
    concerns: list[Concern] = Field(min_length=2, max_length=4, description="Most severe first.")
    overall_assessment: Brief = Field(description="The expert's overall view in one or two sentences.")
    confidence_in_plan: Level = Field(
        description="How confident the expert is that the plan works in their area."
    )


class ExpertCritique(Critique):
    expert: str = Field(description="Title of the expert.")


class ExpertCriticismOutput(BaseModel):
    critiques: list[ExpertCritique]


class PanelConcern(Concern):
    expert: str


class SeverityTally(BaseModel):
    high: int = Field(ge=0)
    medium: int = Field(ge=0)
    low: int = Field(ge=0)


class PanelMember(BaseModel):
    expert: str
    confidence_in_plan: Level
    overall_assessment: str


class ExpertReviewOutput(BaseModel):
    verdict: Literal["confident", "mixed", "concerned"] = Field(
        description="confident: most experts have high confidence; concerned: most have low; mixed otherwise."
    )
    severity_counts: SeverityTally
    panel: list[PanelMember]
    concerns: list[PanelConcern] = Field(description="All concerns, most severe first.")


def consolidate_critiques(critiques: list[ExpertCritique]) -> ExpertReviewOutput:
    concerns = [PanelConcern(**c.model_dump(), expert=cr.expert) for cr in critiques for c in cr.concerns]
    concerns.sort(key=lambda c: SEVERITY_ORDER[c.severity])
    low = sum(cr.confidence_in_plan == "low" for cr in critiques)
    high = sum(cr.confidence_in_plan == "high" for cr in critiques)
    verdict: Literal["confident", "mixed", "concerned"] = "mixed"
    if 2 * high > len(critiques):
        verdict = "confident"
    elif 2 * low > len(critiques):
        verdict = "concerned"
    tally = SeverityTally(
        **{level: sum(c.severity == level for c in concerns) for level in ("high", "medium", "low")}
    )
    panel = [
        PanelMember(
            expert=cr.expert,
            confidence_in_plan=cr.confidence_in_plan,
            overall_assessment=cr.overall_assessment,
        )
        for cr in critiques
    ]
    return ExpertReviewOutput(verdict=verdict, severity_counts=tally, panel=panel, concerns=concerns)


class FindExperts(LLMStep):
    title = "Expert panel"
    depends_on = (ProjectPlan, PhysicalLocations)
    output_model = FindExpertsOutput
    system_prompt = FIND_EXPERTS_SYSTEM


class ExpertCriticism(PlanTask):
    title = "Expert criticism"
    depends_on = (ProjectPlan, PhysicalLocations, ConsolidateAssumptions, RiskRegister, FindExperts)
    output_model = ExpertCriticismOutput
    system_prompt = CRITICISM_SYSTEM
    calls_full = CONSULTED_FULL
    calls_fast = CONSULTED_FAST
    batched = True

    async def produce(self) -> ExpertCriticismOutput:
        found: FindExpertsOutput = self.load(FindExperts)
        experts = found.experts[: by_detail(self.detail, CONSULTED_FULL, CONSULTED_FAST)]
        context = self.brief(ProjectPlan, PhysicalLocations, ConsolidateAssumptions, RiskRegister)

        async def criticise(expert: Expert) -> ExpertCritique:
            questions = "\n".join(f"- {q}" for q in expert.questions)
            user = (
                f"{context}\n\n# You are\n{expert.title}. Expertise: {expert.expertise}\n"
                f"Your focus: {expert.focus}\nQuestions on your mind:\n{questions}"
            )
            critique = await self.ask(self.system_prompt, user, Critique, label=expert.title[:40])
            return ExpertCritique(**critique.model_dump(), expert=expert.title)

        return ExpertCriticismOutput(critiques=await self.batch(experts, criticise))


class ExpertReview(PlanTask):
    title = "Expert review"
    depends_on = (ExpertCriticism,)
    output_model = ExpertReviewOutput

    async def produce(self) -> ExpertReviewOutput:
        criticism: ExpertCriticismOutput = self.load(ExpertCriticism)
        return consolidate_critiques(criticism.critiques)
