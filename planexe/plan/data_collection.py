"""The data the project must collect to decide with evidence."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from planexe.pipeline.base import LLMStep
from planexe.plan.assumptions import ConsolidateAssumptions
from planexe.plan.common import system_prompt
from planexe.plan.locations import PhysicalLocations
from planexe.plan.project_plan import ProjectPlan
from planexe.plan.risks import RiskRegister
from planexe.plan.text import Phrase, Sentence

DATA_SYSTEM = system_prompt("""\
You are a research lead deciding what data this project must collect, before and during execution, \
to make its key decisions on evidence rather than guesses. Start from the assumptions with low or \
medium confidence, the highest risks and the objectives. For each data item say exactly what to \
collect, the decision or assumption it informs (name it), where it comes from (a named registry, \
agency, survey of whom, supplier quotes), the method, how the result is validated, and by which \
week of the project it is needed.""")

Method = Literal[
    "desk_research",
    "public_dataset",
    "survey",
    "interview",
    "site_visit",
    "measurement",
    "supplier_quote",
    "expert_consultation",
    "pilot_test",
]


class DataItem(BaseModel):
    data: Phrase = Field(
        description="Exactly what to collect, e.g. 'foot traffic on Jægersborggade, weekday mornings'."
    )
    informs: Phrase = Field(description="The decision or assumption it informs.")
    source: Phrase = Field(description="Where it comes from, named.")
    method: Method = Field(description="How it is collected.")
    validation: Sentence = Field(description="How the result is checked.")
    needed_by_week: int = Field(ge=0, le=260, description="Week of the project by which it is needed.")


class DataCollectionOutput(BaseModel):
    items: list[DataItem] = Field(min_length=5, max_length=8, description="Most urgent first.")


class DataCollection(LLMStep):
    title = "Data collection"
    depends_on = (ProjectPlan, PhysicalLocations, ConsolidateAssumptions, RiskRegister)
    output_model = DataCollectionOutput
    system_prompt = DATA_SYSTEM
