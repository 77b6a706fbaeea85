"""Permits, licences and legal obligations the project must satisfy."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from planexe.pipeline.base import LLMStep
from planexe.plan.common import system_prompt
from planexe.plan.locations import Currency, PhysicalLocations
from planexe.plan.project_plan import ProjectPlan
from planexe.plan.text import Label, Phrase, Sentence

COMPLIANCE_SYSTEM = system_prompt("""\
You are a regulatory adviser for the jurisdiction where this project takes place. List the permits, \
licences, registrations, inspections and legal obligations the project must satisfy before and \
while it delivers: building and zoning, trade and business registration, health and safety, \
environment, data protection, employment, sector rules. For each give the issuing authority by its \
real name where you know it (say "the municipal authority" when unsure rather than inventing a \
name), when in the project it must be obtained, the typical lead time, an indicative fee in the \
plan's currency, and what happens without it. Only obligations this project plausibly triggers.""")


class Obligation(BaseModel):
    requirement: Phrase = Field(
        description="The permit, licence or obligation, e.g. 'Food business registration'."
    )
    kind: Literal["permit", "licence", "registration", "inspection", "legal_duty", "certification"]
    authority: Label = Field(description="Who issues or enforces it.")
    needed_before: Phrase = Field(
        description="The work that cannot start without it, e.g. 'opening to customers'."
    )
    lead_time_weeks: float = Field(
        ge=0, le=104, description="Typical time from application to decision, in weeks."
    )
    fee: float = Field(ge=0, description="Indicative fee in the plan's currency (0 if free).")
    if_missing: Sentence = Field(description="Consequence of not having it.")


class ComplianceOutput(BaseModel):
    obligations: list[Obligation] = Field(min_length=4, max_length=10, description="Longest lead time first.")
    note: Sentence = Field(description="The compliance point that most shapes the schedule, in one sentence.")


class Compliance(LLMStep):
    title = "Permits and compliance"
    depends_on = (ProjectPlan, PhysicalLocations, Currency)
    output_model = ComplianceOutput
    system_prompt = COMPLIANCE_SYSTEM
