"""Where the project takes place, and the currency its budget is kept in."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

from planexe.pipeline.base import LLMStep
from planexe.plan.common import system_prompt
from planexe.plan.purpose import IdentifyPurpose
from planexe.plan.safety import SafetyGate
from planexe.plan.text import Brief, Code, Label, Phrase, Sentence, bullets

LOCATIONS_SYSTEM = system_prompt("""\
You are a site-selection adviser. Using the project description, recommend where the project \
should take place.

- If the description names a place, keep it and make it more precise (district, kind of site); \
never move the project somewhere else.
- If it names none, propose realistic options that suit the work and say why each fits.
- For a project whose work is done entirely online (software, a digital service or campaign), give \
the place the team works from and where the organisation is registered, and set \
needs_physical_site to false.

For each location give the country, the city or region, the kind of site, why it fits, and the \
local constraints the planner must check (permits, zoning, rent level, labour market, climate, \
access). Do not invent street addresses.""")

CURRENCY_SYSTEM = system_prompt("""\
You are a project finance adviser. Choose the currency this project's budget is kept in, based on \
where it takes place and who pays for it. Prefer the local currency of the main location; choose \
another only when most costs and funding are in it (an international programme budgeted in EUR or \
USD), and say so. Then list the other currencies the project will handle and rate the exchange-rate \
exposure this creates. Use ISO 4217 codes such as DKK, EUR or USD.""")


class Location(BaseModel):
    name: Label = Field(description="Short label for the location, e.g. 'Nørrebro street-level shop'.")
    country: Label = Field(description="Country name.")
    city_or_region: Label = Field(description="City, municipality or region.")
    site_type: Label = Field(
        description="Kind of site needed: shop unit, warehouse, office, field, online only."
    )
    rationale: Brief = Field(description="Why this location suits the project.")
    constraints: list[Phrase] = Field(
        min_length=1,
        max_length=4,
        description="Local constraints to check: permits, zoning, rent, labour, access.",
    )


class LocationsOutput(BaseModel):
    needs_physical_site: bool = Field(description="False only when the work is done entirely online.")
    locations: list[Location] = Field(min_length=1, max_length=3, description="Best option first.")
    summary: Brief = Field(description="The location decision in one or two sentences.")

    def prompt_digest(self) -> str:
        lines = [
            f"{loc.name}: {loc.city_or_region}, {loc.country} ({loc.site_type}); to check: "
            + ", ".join(loc.constraints)
            for loc in self.locations
        ]
        site = "" if self.needs_physical_site else "No physical site needed.\n"
        return f"{site}{bullets(lines)}\n{self.summary}"


class OtherCurrency(BaseModel):
    code: Code = Field(description="ISO 4217 code, e.g. 'EUR'.")
    reason: Sentence = Field(description="Which costs or income will be in this currency.")


class CurrencyOutput(BaseModel):
    currency: Code = Field(description="ISO 4217 code of the currency the budget is kept in, e.g. 'DKK'.")
    currency_name: Label = Field(description="Name of that currency, e.g. 'Danish krone'.")
    reasoning: Brief = Field(description="Why this currency, in one or two sentences.")
    other_currencies: list[OtherCurrency] = Field(
        max_length=3, description="Other currencies the project handles."
    )
    exchange_rate_exposure: Literal["none", "low", "medium", "high"] = Field(
        description="How much exchange-rate changes could move the budget."
    )

    @field_validator("currency")
    @classmethod
    def _code(cls, value: str) -> str:
        return value.strip().upper()


class PhysicalLocations(LLMStep):
    title = "Locations"
    # Only the description: where the work happens is read from it as well as from the
    # purpose and plan-type steps, and starting right after the safety gate with them keeps
    # one round off the plan's critical path (locations -> currency -> assumptions -> ...).
    depends_on = (SafetyGate,)
    output_model = LocationsOutput
    system_prompt = LOCATIONS_SYSTEM


class Currency(LLMStep):
    title = "Currency"
    depends_on = (IdentifyPurpose, PhysicalLocations)
    output_model = CurrencyOutput
    system_prompt = CURRENCY_SYSTEM
