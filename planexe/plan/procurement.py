"""What the project buys or contracts, and when it must be ordered."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from planexe.pipeline.base import LLMStep
from planexe.plan.common import system_prompt
from planexe.plan.locations import Currency, PhysicalLocations
from planexe.plan.project_plan import ProjectPlan
from planexe.plan.text import Label, Sentence

PROCUREMENT_SYSTEM = system_prompt("""\
You are a procurement lead planning what this project must buy, rent or contract: equipment, \
materials, works, services, software and licences. For each item say how it will be procured \
(direct purchase, quotes from several suppliers, tender, lease, framework agreement), the kinds of \
supplier to approach (name real supplier types or marketplaces for the location; do not invent \
company names), the lead time from order to delivery, an estimated cost in the plan's currency, and \
the week of the project by which it must be ordered so it does not delay the work. Focus on the \
items that are costly, slow to deliver or hard to replace.""")


class ProcurementItem(BaseModel):
    item: Label = Field(description="What is procured, e.g. 'Deck oven, 3 decks'.")
    category: Literal["equipment", "materials", "works", "services", "software", "licence", "premises"]
    approach: Literal["direct_purchase", "three_quotes", "tender", "lease", "framework_agreement"]
    suppliers: Sentence = Field(description="Kinds of supplier to approach at the location.")
    lead_time_weeks: float = Field(ge=0, le=104, description="Weeks from order to delivery.")
    estimated_cost: float = Field(ge=0, description="Estimated cost in the plan's currency.")
    order_by_week: int = Field(ge=0, le=520, description="Project week by which it must be ordered.")


class ProcurementOutput(BaseModel):
    items: list[ProcurementItem] = Field(min_length=4, max_length=8, description="Ordered by order_by_week.")


class ProcurementPlan(LLMStep):
    title = "Procurement plan"
    depends_on = (ProjectPlan, PhysicalLocations, Currency)
    output_model = ProcurementOutput
    system_prompt = PROCUREMENT_SYSTEM
