"""SWOT analysis of the project."""

from __future__ import annotations

from pydantic import BaseModel, Field

from planexe.pipeline.base import LLMStep
from planexe.plan.common import system_prompt
from planexe.plan.locations import PhysicalLocations
from planexe.plan.project_plan import ProjectPlan
from planexe.plan.risks import RiskRegister
from planexe.plan.text import Sentence

SWOT_SYSTEM = system_prompt("""\
You are a strategy consultant preparing a SWOT analysis for the sponsor of this project. Strengths \
and weaknesses are internal: the team, the money, the idea, the location, the plan itself. \
Opportunities and threats are external: market, competitors, regulation, economy, technology, \
society. Every point must be specific to this project and its place ("strong demand for organic \
bread in Nørrebro", not "good market"), and each comes with what it means for the plan. Finish with \
strategic actions that use strengths to seize opportunities and shield the weaknesses exposed to \
threats.""")


class SwotPoint(BaseModel):
    point: Sentence = Field(
        description="The strength, weakness, opportunity or threat, specific to this project."
    )
    implication: Sentence = Field(description="What it means for the plan.")


class StrategicAction(BaseModel):
    action: Sentence = Field(description="What to do.")
    rationale: Sentence = Field(description="Which points of the SWOT it builds on or protects against.")


class SwotOutput(BaseModel):
    strengths: list[SwotPoint] = Field(min_length=3, max_length=5)
    weaknesses: list[SwotPoint] = Field(min_length=3, max_length=5)
    opportunities: list[SwotPoint] = Field(min_length=3, max_length=5)
    threats: list[SwotPoint] = Field(min_length=3, max_length=5)
    strategic_actions: list[StrategicAction] = Field(min_length=3, max_length=5)


class Swot(LLMStep):
    title = "SWOT analysis"
    depends_on = (ProjectPlan, PhysicalLocations, RiskRegister)
    output_model = SwotOutput
    system_prompt = SWOT_SYSTEM
