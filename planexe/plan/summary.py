"""The executive summary and the pitch, written last from the plan digest."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from planexe.pipeline.base import LLMStep
from planexe.plan.audit import SelfAudit
from planexe.plan.common import system_prompt
from planexe.plan.digest import PlanDigest, digest_brief
from planexe.plan.review import ReviewPlan
from planexe.plan.text import Brief, Label, Paragraph, Phrase, Sentence

EXECUTIVE_SUMMARY_SYSTEM = system_prompt("""\
You are a chief of staff writing the executive summary of this project plan for a busy \
decision-maker who will read nothing else. Use the plan digest, the review and the self-audit. Open with what the \
project is, what it costs, how long it takes and whether it should go ahead, weighing the challenge \
to its premise. Then give the key \
numbers, the decisions the reader must take now, the main risks with the response to each, and the \
next steps with owners and timing. Plain language, no jargon, no marketing tone; every number must \
come from the plan.""")

PITCH_SYSTEM = system_prompt("""\
You are writing a short pitch for this project, aimed at the people whose support it needs most \
(investors, funders, a board, partners or the community: choose from the plan). Make the case \
honestly: the problem or opportunity, what the project delivers, why this team and this place, why \
now, what it costs and what you ask for. Concrete and persuasive, without hype words \
("revolutionary", "game-changing") and without claims the plan does not support.""")


class KeyNumber(BaseModel):
    label: Label = Field(description="What the number is, e.g. 'Total budget'.")
    value: Label = Field(description="The number with its unit, e.g. '2.4 million DKK'.")


class RiskResponse(BaseModel):
    risk: Phrase
    response: Sentence


class NextStep(BaseModel):
    action: Sentence
    owner_role: Label
    within_days: int = Field(ge=1, le=365, description="Days from now by which it is done.")


class ExecutiveSummaryOutput(BaseModel):
    headline: Sentence = Field(
        description="One sentence: the project, its cost, its duration and the recommendation."
    )
    overview: Paragraph = Field(description="One paragraph of four to six sentences.")
    recommendation: Literal["proceed", "proceed_with_conditions", "rework", "stop"]
    recommendation_reason: Brief
    key_numbers: list[KeyNumber] = Field(min_length=3, max_length=6)
    decisions_needed: list[Sentence] = Field(
        min_length=2, max_length=4, description="Decisions the reader must take now."
    )
    top_risks: list[RiskResponse] = Field(min_length=2, max_length=4)
    next_steps: list[NextStep] = Field(min_length=3, max_length=5)


class PitchOutput(BaseModel):
    audience: Label = Field(description="Whom the pitch addresses.")
    hook: Sentence = Field(description="The opening line.")
    problem: Brief = Field(description="The problem or opportunity.")
    solution: Brief = Field(description="What the project delivers.")
    why_us_why_here: Brief = Field(description="Why this team and this place.")
    why_now: Sentence
    the_ask: Sentence = Field(description="What is asked for, with the amount where relevant.")
    elevator_pitch: Paragraph = Field(description="The whole pitch in three or four sentences.")


class ExecutiveSummary(LLMStep):
    title = "Executive summary"
    depends_on = (PlanDigest, ReviewPlan, SelfAudit)
    output_model = ExecutiveSummaryOutput
    system_prompt = EXECUTIVE_SUMMARY_SYSTEM

    def user_prompt(self) -> str:
        digest = digest_brief(
            self,
            (
                "objectives",
                "milestones",
                "key_assumptions",
                "top_risks",
                "team",
                "expert_concerns",
                "premise",
            ),
        )
        return f"{digest}\n\n{self.quote(ReviewPlan, SelfAudit)}"


class Pitch(LLMStep):
    title = "Pitch"
    depends_on = (PlanDigest,)
    output_model = PitchOutput
    system_prompt = PITCH_SYSTEM

    def user_prompt(self) -> str:
        return digest_brief(self, ("objectives", "deliverables", "milestones", "team", "swot"))
