"""Governance: bodies first, then decision rights, escalation and monitoring side by side,
merged in code."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from planexe.pipeline.base import LLMStep, PlanTask
from planexe.plan.common import system_prompt
from planexe.plan.locations import Currency, PhysicalLocations
from planexe.plan.project_plan import ProjectPlan
from planexe.plan.risks import RiskRegister
from planexe.plan.text import Brief, Label, Phrase, Sentence, bullets, short

BODIES_SYSTEM = system_prompt("""\
You are a governance specialist setting up how this project will be directed and controlled. \
Propose the governance bodies the project really needs at its scale: a small project may need only \
a sponsor and a weekly core-team meeting; a large one a steering committee, a project board and a \
technical, safety or ethics panel. Do not create bodies for show.

For each body give its name, what it is responsible for and decides, who sits on it (roles, not \
names of people), how often it meets, and the body it escalates to ("none" for the top body).""")

DECISION_RIGHTS_SYSTEM = system_prompt("""\
You are a governance specialist writing the decision-rights matrix of this project. List the \
recurring and high-stakes decisions the project will face (spending above a threshold, scope \
changes, hiring, choice of suppliers, go-live, stopping work for safety) and, for each, who decides, \
who must be consulted, the threshold or condition that puts the decision at that level, and the \
evidence the decider needs. Use the governance bodies given, by their exact names, and amounts in \
the plan's currency consistent with its budget.""")

ESCALATION_SYSTEM = system_prompt("""\
You are a governance specialist defining the escalation path of this project: how a problem travels \
from the person who finds it to the level that can solve it. Give the levels from the lowest (the \
team) to the highest (the sponsor or board), using the governance bodies given. For each level: who \
handles it, the triggers that bring an issue to it (measurable where possible: days of delay, \
amount over budget, severity of an incident), how many days it has to respond before the issue \
moves up, and what it may decide. Then name the kinds of issue that skip levels and go straight to \
the top (safety, legal, fraud).""")

AUDIT_SYSTEM = system_prompt("""\
You are a project assurance lead designing how this project will be monitored and audited. Define \
the key performance indicators the governance bodies will track, each with its target, how often it \
is measured and who reports it; the audits and reviews the project will undergo (financial, quality, \
compliance, safety, stage gates) with their timing and who performs them; and the regular reports, \
with their audience and frequency. Tie the indicators to the plan's objectives and success criteria \
and the audits to its main risks and the legal requirements of its locations; leave out checks the \
project has no reason to do.""")

Cadence = Literal["weekly", "biweekly", "monthly", "quarterly", "per_milestone", "ad_hoc"]


class GovernanceBody(BaseModel):
    name: Label = Field(description="Name of the body, e.g. 'Steering committee'.")
    responsibilities: Brief = Field(description="What it is responsible for and decides.")
    members: list[Label] = Field(min_length=1, max_length=6, description="Roles that sit on it.")
    meets: Cadence = Field(description="How often it meets.")
    escalates_to: Label = Field(description="Name of the body it escalates to, or 'none' for the top body.")


class GovernanceBodiesOutput(BaseModel):
    bodies: list[GovernanceBody] = Field(min_length=2, max_length=4, description="Highest body first.")

    def prompt_digest(self) -> str:
        return bullets(
            f"{b.name} (meets {b.meets}, escalates to {b.escalates_to}; members: {', '.join(b.members)}): "
            f"{short(b.responsibilities, 200)}"
            for b in self.bodies
        )


class DecisionRight(BaseModel):
    decision: Phrase = Field(description="The decision, e.g. 'Approve spending above 50,000 DKK'.")
    decided_by: Label = Field(description="Governance body or role that decides.")
    consulted: list[Label] = Field(min_length=1, max_length=3, description="Bodies or roles consulted first.")
    threshold: Phrase = Field(description="Condition that puts the decision at this level.")
    evidence_required: Sentence = Field(description="What the decider needs to see.")


class DecisionRightsOutput(BaseModel):
    decisions: list[DecisionRight] = Field(min_length=5, max_length=8)


class EscalationLevel(BaseModel):
    level: int = Field(ge=1, le=6, description="1 is the lowest level (the team).")
    handled_by: Label = Field(description="Body or role handling issues at this level.")
    triggers: list[Phrase] = Field(
        min_length=1, max_length=3, description="Measurable triggers for this level."
    )
    response_days: float = Field(gt=0, le=30, description="Days to respond before the issue moves up.")
    authority: Sentence = Field(description="What this level may decide.")


class EscalationPathOutput(BaseModel):
    levels: list[EscalationLevel] = Field(min_length=3, max_length=4, description="Lowest level first.")
    straight_to_top: list[Phrase] = Field(min_length=1, max_length=3, description="Issues that skip levels.")


class Kpi(BaseModel):
    name: Label = Field(description="Indicator name.")
    target: Phrase = Field(description="Target value.")
    frequency: Cadence = Field(description="How often it is measured.")
    owner_role: Label = Field(description="Role that reports it.")


class Audit(BaseModel):
    name: Label = Field(description="Audit or review, e.g. 'Food-safety inspection readiness review'.")
    scope: Sentence = Field(description="What it examines.")
    timing: Phrase = Field(description="When it happens, e.g. 'before opening, week 30'.")
    performed_by: Label = Field(description="Who performs it (internal role or external party).")


class StatusReport(BaseModel):
    name: Label = Field(description="Report name.")
    audience: Label = Field(description="Who receives it.")
    frequency: Cadence = Field(description="How often it is issued.")


class AuditMonitoringOutput(BaseModel):
    kpis: list[Kpi] = Field(min_length=4, max_length=6)
    audits: list[Audit] = Field(min_length=2, max_length=4)
    reports: list[StatusReport] = Field(min_length=2, max_length=3)


class GovernanceOutput(BaseModel):
    summary: str = Field(description="One line counting what the governance consists of.")
    bodies: list[GovernanceBody]
    decision_rights: list[DecisionRight]
    escalation_path: list[EscalationLevel] = Field(description="Lowest level first, numbered 1..n.")
    straight_to_top: list[str]
    kpis: list[Kpi]
    audits: list[Audit]
    reports: list[StatusReport]


def merge_governance(
    bodies: GovernanceBodiesOutput,
    rights: DecisionRightsOutput,
    escalation: EscalationPathOutput,
    monitoring: AuditMonitoringOutput,
) -> GovernanceOutput:
    levels = sorted(escalation.levels, key=lambda lvl: lvl.level)
    path = [lvl.model_copy(update={"level": i}) for i, lvl in enumerate(levels, start=1)]
    summary = (
        f"{len(bodies.bodies)} governance bodies, {len(rights.decisions)} decision rights, "
        f"{len(path)} escalation levels, {len(monitoring.kpis)} KPIs, {len(monitoring.audits)} audits."
    )
    return GovernanceOutput(
        summary=summary,
        bodies=bodies.bodies,
        decision_rights=rights.decisions,
        escalation_path=path,
        straight_to_top=escalation.straight_to_top,
        kpis=monitoring.kpis,
        audits=monitoring.audits,
        reports=monitoring.reports,
    )


class GovernanceBodies(LLMStep):
    title = "Governance bodies"
    depends_on = (ProjectPlan, RiskRegister)
    output_model = GovernanceBodiesOutput
    system_prompt = BODIES_SYSTEM


class DecisionRights(LLMStep):
    title = "Decision rights"
    depends_on = (ProjectPlan, Currency, GovernanceBodies)
    output_model = DecisionRightsOutput
    system_prompt = DECISION_RIGHTS_SYSTEM


class EscalationPath(LLMStep):
    title = "Escalation path"
    depends_on = (ProjectPlan, RiskRegister, GovernanceBodies)
    output_model = EscalationPathOutput
    system_prompt = ESCALATION_SYSTEM


class AuditMonitoring(LLMStep):
    title = "Monitoring and audits"
    depends_on = (ProjectPlan, PhysicalLocations, RiskRegister, GovernanceBodies)
    output_model = AuditMonitoringOutput
    system_prompt = AUDIT_SYSTEM


class Governance(PlanTask):
    title = "Governance"
    depends_on = (GovernanceBodies, DecisionRights, EscalationPath, AuditMonitoring)
    output_model = GovernanceOutput

    async def produce(self) -> GovernanceOutput:
        return merge_governance(
            self.load(GovernanceBodies),
            self.load(DecisionRights),
            self.load(EscalationPath),
            self.load(AuditMonitoring),
        )
