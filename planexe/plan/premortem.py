"""Premortem: one failure story per top risk, told in a batch."""

from __future__ import annotations

from pydantic import BaseModel, Field

from planexe.pipeline.base import PlanTask
from planexe.plan.common import Level, by_detail, compact, system_prompt
from planexe.plan.digest import PlanDigest, digest_brief
from planexe.plan.risks import MIN_RISKS, RegisteredRisk, RiskRegister, RiskRegisterOutput, Severity
from planexe.plan.text import Brief, Label, Paragraph, Sentence

SCENARIOS_FULL = MIN_RISKS  # the register always holds at least this many risks
SCENARIOS_FAST = 3
# The parts of the plan digest a failure story draws on, besides the essentials.
PREMORTEM_DIGEST = ("milestones", "key_assumptions", "team", "compliance", "procurement")

PREMORTEM_SYSTEM = system_prompt("""\
You are facilitating a premortem. Imagine it is one year after the planned end date and the \
project has failed, and that the failure began with the risk given at the end of the message. Tell \
the story of how it went wrong in this project, with specific events, decisions and points in the \
schedule; then give the root causes, the warning signs that were visible early, a measurable \
tripwire that should have triggered action, the actions that would have prevented it (with owner \
roles), and the contingency plan if it happens anyway. Be vivid but plausible, and stay with this \
one failure.""")


class Prevention(BaseModel):
    action: Sentence
    owner_role: Label


class FailureScenario(BaseModel):
    failure_story: Paragraph = Field(description="How the project failed, four to six sentences.")
    root_causes: list[Sentence] = Field(min_length=2, max_length=3)
    warning_signs: list[Sentence] = Field(min_length=2, max_length=3)
    tripwire: Sentence = Field(description="Measurable threshold that triggers the contingency plan.")
    prevention: list[Prevention] = Field(min_length=2, max_length=3)
    contingency: Brief = Field(description="What to do if it happens anyway.")
    likelihood: Level = Field(description="How plausible this failure is, in your judgement.")


class PremortemEntry(FailureScenario):
    risk_id: str
    risk: str
    severity: Severity


class PremortemOutput(BaseModel):
    scenarios: list[PremortemEntry] = Field(description="One per top risk, most severe risk first.")


class Premortem(PlanTask):
    title = "Premortem"
    depends_on = (PlanDigest, RiskRegister)
    output_model = PremortemOutput
    system_prompt = PREMORTEM_SYSTEM
    calls_full = SCENARIOS_FULL
    calls_fast = SCENARIOS_FAST
    batched = True

    async def produce(self) -> PremortemOutput:
        register: RiskRegisterOutput = self.load(RiskRegister)
        risks = register.risks[: by_detail(self.detail, SCENARIOS_FULL, SCENARIOS_FAST)]
        context = digest_brief(self, PREMORTEM_DIGEST)

        async def imagine(risk: RegisteredRisk) -> PremortemEntry:
            user = f"{context}\n\n# The risk that started the failure\n{compact(risk)}"
            scenario = await self.ask(self.system_prompt, user, FailureScenario, label=risk.id)
            return PremortemEntry(
                **scenario.model_dump(), risk_id=risk.id, risk=risk.title, severity=risk.severity
            )

        return PremortemOutput(scenarios=await self.batch(risks, imagine))
