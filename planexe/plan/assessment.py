"""The pre-project assessment: the gate before detailed planning."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from planexe.pipeline.base import LLMStep
from planexe.plan.assumptions import ConsolidateAssumptions
from planexe.plan.common import system_prompt
from planexe.plan.locations import Currency, PhysicalLocations
from planexe.plan.purpose import DeterminePlanType, IdentifyPurpose
from planexe.plan.risks import RiskRegister
from planexe.plan.strategy import Scenarios
from planexe.plan.text import Brief, Label, Phrase, Sentence

ASSESSMENT_SYSTEM = system_prompt("""\
You are a seasoned programme manager carrying out the pre-project assessment: the gate before \
detailed planning starts. Using the description, the purpose and plan type, the locations and \
currency, the consolidated assumptions and the risk register, decide whether the project should go \
into detailed planning now ("go"), only once named conditions are met ("go_with_conditions"), or \
not at all ("no_go").

Then list the checks that must be done in the first weeks, each with its reason, the concrete \
action, the role that does it and the number of days after kickoff by which it must be done; the \
issues that would block the project if left unresolved; and the quick wins that build momentum. Tie \
every item to a risk or an assumption you were given. Assess the plan for the chosen strategy (the \
scenario quoted), not for the scenarios that were not taken.""")


class FirstCheck(BaseModel):
    check: Phrase = Field(
        description="What must be checked or secured, e.g. 'Confirm zoning allows a bakery'."
    )
    why: Sentence = Field(description="The risk or assumption it addresses (name it).")
    action: Sentence = Field(description="The concrete action to take.")
    owner_role: Label = Field(description="Role that does it.")
    due_within_days: int = Field(ge=1, le=180, description="Days after kickoff by which it must be done.")


class AssessmentOutput(BaseModel):
    verdict: Literal["go", "go_with_conditions", "no_go"] = Field(
        description="Whether to go into detailed planning."
    )
    verdict_reason: Brief = Field(description="The reason for the verdict, with its conditions if any.")
    readiness_score: int = Field(
        ge=1, le=10, description="How ready the project is to start: 1 (not at all) to 10."
    )
    first_checks: list[FirstCheck] = Field(min_length=4, max_length=6, description="Most urgent first.")
    blocking_issues: list[Sentence] = Field(
        max_length=3, description="Issues that stop the project if unresolved."
    )
    quick_wins: list[Sentence] = Field(
        min_length=1, max_length=3, description="Cheap early actions that build momentum."
    )


class PreProjectAssessment(LLMStep):
    title = "Pre-project assessment"
    depends_on = (
        IdentifyPurpose,
        DeterminePlanType,
        PhysicalLocations,
        Currency,
        ConsolidateAssumptions,
        RiskRegister,
        Scenarios,
    )
    output_model = AssessmentOutput
    system_prompt = ASSESSMENT_SYSTEM
