"""Stakeholders and the communication plan built on them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from planexe.pipeline.base import LLMStep
from planexe.plan.common import Level, system_prompt
from planexe.plan.locations import PhysicalLocations
from planexe.plan.project_plan import ProjectPlan
from planexe.plan.text import Brief, Label, Sentence, bullets, short

STAKEHOLDERS_SYSTEM = system_prompt("""\
You are a stakeholder manager mapping everyone who can affect this project or is affected by it: \
sponsors and financiers, customers or users, staff, suppliers, landlords, authorities and \
regulators, neighbours and the local community, competitors where they matter. Name them as \
precisely as the description and the locations allow ("the municipality's building department", \
"the national food-safety authority") rather than by generic labels. For each: whether internal or \
external to the project organisation, their interest in the project and their influence over it, \
what they need or fear from it, and how the project will engage them.""")

COMMUNICATION_SYSTEM = system_prompt("""\
You are a communications lead writing the communication plan. From the stakeholder map, decide who \
needs which information, through which channel, how often and from whom. High-influence \
stakeholders get regular, direct contact; low-interest ones only what they must know. Include the \
internal team rhythm (stand-ups, status reports) and the moments that need special communication \
(launch, disruptions). Finally state how bad news is handled: who tells whom, how fast.""")

Frequency = Literal["daily", "weekly", "biweekly", "monthly", "per_milestone", "as_needed"]


class Stakeholder(BaseModel):
    name: Label = Field(description="The stakeholder, as specific as possible.")
    kind: Literal["internal", "external"] = Field(description="Inside or outside the project organisation.")
    interest: Level = Field(description="How much they care about the project.")
    influence: Level = Field(description="How much they can affect it.")
    needs: Sentence = Field(description="What they need or fear from the project.")
    engagement: Sentence = Field(description="How the project will engage them.")


class StakeholdersOutput(BaseModel):
    stakeholders: list[Stakeholder] = Field(
        min_length=6, max_length=10, description="Most influential first."
    )

    def prompt_digest(self) -> str:
        return bullets(
            f"{s.name} ({s.kind}; interest {s.interest}, influence {s.influence}): needs {short(s.needs, 160)}"
            for s in self.stakeholders
        )


class CommunicationItem(BaseModel):
    audience: Label = Field(description="Stakeholder or group addressed.")
    content: Sentence = Field(description="What they are told or asked.")
    channel: Label = Field(description="Meeting, e-mail report, site visit, newsletter, ...")
    frequency: Frequency = Field(description="How often.")
    owner_role: Label = Field(description="Role that communicates it.")


class CommunicationPlanOutput(BaseModel):
    items: list[CommunicationItem] = Field(min_length=5, max_length=8)
    bad_news_protocol: Brief = Field(description="Who tells whom about problems, and how fast.")


class Stakeholders(LLMStep):
    title = "Stakeholders"
    depends_on = (ProjectPlan, PhysicalLocations)
    output_model = StakeholdersOutput
    system_prompt = STAKEHOLDERS_SYSTEM


class CommunicationPlan(LLMStep):
    title = "Communication plan"
    depends_on = (ProjectPlan, Stakeholders)
    output_model = CommunicationPlanOutput
    system_prompt = COMMUNICATION_SYSTEM
