"""What kind of project this is: its purpose and whether it needs the physical world."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from planexe.pipeline.base import LLMStep
from planexe.plan.common import system_prompt
from planexe.plan.safety import SafetyGate
from planexe.plan.text import Brief, Label, Phrase, Sentence

PURPOSE_SYSTEM = system_prompt("""\
You are a senior project strategist opening a new planning file. Read the project description and \
classify the undertaking, so that every later planning step uses the right lens.

Decide its purpose:
- business: it creates commercial or organisational value (a company, product, service, public \
programme, research or infrastructure run by an organisation);
- personal: it serves one person or a household (a move, a wedding, a renovation, a training goal);
- other: neither fits (an art piece, a thought experiment, a community event with no organisation).

Then give the project a short title, state in one sentence what it will achieve and for whom, and \
list who benefits. Work only from the description: do not add ambitions the user did not state.""")

PLAN_TYPE_SYSTEM = system_prompt("""\
You are a project planner deciding whether this project needs the physical world.

Answer "physical" if carrying it out requires any physical presence or resource: a site or premises, \
travel, construction, equipment, goods, shipping, in-person events or manual work. Answer "digital" \
only if the whole project can be done with a computer and an internet connection (software, online \
content, remote analysis). When in doubt choose "physical": most projects that look digital still \
need an office, hardware or a meeting, and under-planning the physical side is the costlier mistake.

List the concrete physical needs you found; leave the list empty for a digital project.""")


class PurposeOutput(BaseModel):
    project_title: Label = Field(
        description="Short title for the project, at most eight words, e.g. 'Sourdough bakery in Copenhagen'."
    )
    purpose: Literal["business", "personal", "other"] = Field(description="The kind of undertaking.")
    goal_sentence: Sentence = Field(
        description="What the project will achieve and for whom, in one sentence."
    )
    beneficiaries: list[Label] = Field(
        min_length=1, max_length=4, description="Who gains when the project succeeds, most important first."
    )
    reasoning: Brief = Field(
        description="Why this purpose fits, citing the words of the description that decided it."
    )


class PlanTypeOutput(BaseModel):
    plan_type: Literal["physical", "digital"] = Field(
        description="physical: needs a site, travel, goods or manual work; digital: done entirely online."
    )
    physical_needs: list[Phrase] = Field(
        max_length=5, description="Concrete physical needs (premises, equipment, travel); empty if digital."
    )
    reasoning: Brief = Field(description="Why this plan type, in one or two sentences.")


class IdentifyPurpose(LLMStep):
    title = "Purpose"
    depends_on = (SafetyGate,)
    output_model = PurposeOutput
    system_prompt = PURPOSE_SYSTEM


class DeterminePlanType(LLMStep):
    title = "Plan type"
    depends_on = (SafetyGate,)
    output_model = PlanTypeOutput
    system_prompt = PLAN_TYPE_SYSTEM
