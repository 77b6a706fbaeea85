"""Risks: identified once by the LLM early on, then scored and ranked in code."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from planexe.pipeline.base import LLMStep, PlanTask
from planexe.plan.common import Level, system_prompt
from planexe.plan.purpose import DeterminePlanType, IdentifyPurpose
from planexe.plan.text import Brief, Label, Sentence, bullets, short

MIN_RISKS = 8  # the premortem takes up to this many of the top risks
QUOTED_RISKS = 8  # later prompts quote this many of the highest risks

RISKS_SYSTEM = system_prompt("""\
You are a risk manager running the first risk workshop for this project. Identify the risks that \
could stop it, delay it, make it overspend or harm people, using what the description, its purpose \
and its plan type reveal about the place, the money, the people and the work.

For each risk:
- title: a short name for the event that goes wrong (not a category);
- category: the main area it belongs to;
- description: cause and consequence for this project, with a number where one is plausible \
(weeks of delay, amount of money, share of customers);
- likelihood and impact: your honest rating; not everything is high;
- early_warning_sign: what the team would observe before it happens;
- mitigation: a concrete action that lowers the likelihood or the impact, and when to take it;
- owner_role: the role that should own the risk.

Cover several categories. Leave out risks that apply to every project unless you can make them \
specific to this one.""")

RiskCategory = Literal[
    "financial",
    "schedule",
    "technical",
    "regulatory",
    "market",
    "operational",
    "supply_chain",
    "people",
    "safety",
    "environmental",
    "reputational",
    "security",
]
Severity = Literal["critical", "high", "medium", "low"]
LEVEL_POINTS: dict[str, int] = {"low": 1, "medium": 2, "high": 3}


class Risk(BaseModel):
    title: Label = Field(description="Short name of what goes wrong, e.g. 'Landlord refuses change of use'.")
    category: RiskCategory = Field(description="Main area of the risk.")
    description: Brief = Field(
        description="Cause and consequence for this project, with a number if plausible."
    )
    likelihood: Level = Field(description="How likely it is to happen during the project.")
    impact: Level = Field(description="How badly it hurts the project if it happens.")
    early_warning_sign: Sentence = Field(description="What the team would observe before it happens.")
    mitigation: Sentence = Field(description="Concrete action that lowers likelihood or impact, and when.")
    owner_role: Label = Field(description="Role that owns the risk.")


class RisksOutput(BaseModel):
    risks: list[Risk] = Field(min_length=MIN_RISKS, max_length=12, description="Most serious first.")


class RegisteredRisk(Risk):
    id: str = Field(description="Stable id in the order the risks were identified: R1, R2, ...")
    score: int = Field(
        ge=1, le=9, description="Likelihood points times impact points (low=1, medium=2, high=3)."
    )
    severity: Severity = Field(description="critical: 9, high: 6, medium: 3-4, low: 1-2.")


class SeverityCounts(BaseModel):
    critical: int = Field(ge=0)
    high: int = Field(ge=0)
    medium: int = Field(ge=0)
    low: int = Field(ge=0)


class RiskRegisterOutput(BaseModel):
    risks: list[RegisteredRisk] = Field(description="All risks, highest score first.")
    severity_counts: SeverityCounts = Field(description="How many risks of each severity.")

    def prompt_digest(self) -> str:
        counts = ", ".join(f"{n} {level}" for level, n in self.severity_counts.model_dump().items() if n)
        lines = [
            f"{r.id} ({r.severity}, {r.category}) {r.title}: {short(r.description, 200)} "
            f"Mitigation: {short(r.mitigation, 160)} Owner: {r.owner_role}."
            for r in self.risks[:QUOTED_RISKS]
        ]
        return f"{len(self.risks)} risks ({counts}); the {len(lines)} highest:\n{bullets(lines)}"


def severity_of(score: int) -> Severity:
    if score >= 9:
        return "critical"
    if score >= 6:
        return "high"
    if score >= 3:
        return "medium"
    return "low"


def build_register(risks: list[Risk]) -> RiskRegisterOutput:
    """Score each risk and rank by score; ties keep the order in which they were identified."""
    registered = []
    for index, risk in enumerate(risks, start=1):
        score = LEVEL_POINTS[risk.likelihood] * LEVEL_POINTS[risk.impact]
        registered.append(
            RegisteredRisk(**risk.model_dump(), id=f"R{index}", score=score, severity=severity_of(score))
        )
    registered.sort(key=lambda r: -r.score)
    counts = {
        level: sum(1 for r in registered if r.severity == level)
        for level in ("critical", "high", "medium", "low")
    }
    return RiskRegisterOutput(risks=registered, severity_counts=SeverityCounts(**counts))


class IdentifyRisks(LLMStep):
    title = "Identified risks"
    depends_on = (IdentifyPurpose, DeterminePlanType)
    output_model = RisksOutput
    system_prompt = RISKS_SYSTEM


class RiskRegister(PlanTask):
    title = "Risk register"
    depends_on = (IdentifyRisks,)
    output_model = RiskRegisterOutput

    async def produce(self) -> RiskRegisterOutput:
        identified: RisksOutput = self.load(IdentifyRisks)
        return build_register(identified.risks)
