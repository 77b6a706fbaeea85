"""The self-audit: the finished plan checked against the common planning failures.

Code first (``audit_checks.py``): owners, dates, sums, mitigations and permit
lead times, each finding with where it is. Then one call for the judgement the
code cannot make, given the plan digest and the code's findings: owner roles
nobody on the team fills, mitigations that would not work, permits treated as a
formality, contradictions between sections. It runs beside the plan review (both
read the digest), so it adds no round; the executive summary reads both.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from planexe.pipeline.base import PlanTask
from planexe.plan.audit_checks import (
    CHECKS,
    SEVERITY_ORDER,
    AuditInputs,
    AuditSeverity,
    Check,
    Finding,
    run_checks,
)
from planexe.plan.budget import Budget, CostEstimates
from planexe.plan.common import system_prompt
from planexe.plan.compliance import Compliance
from planexe.plan.data_collection import DataCollection
from planexe.plan.digest import PlanDigest, digest_brief
from planexe.plan.procurement import ProcurementPlan
from planexe.plan.project_plan import ProjectPlan
from planexe.plan.risks import RiskRegister
from planexe.plan.schedule import Schedule
from planexe.plan.team import Raci
from planexe.plan.text import Brief, Label, Sentence, bullets, short
from planexe.plan.wbs import Wbs

QUOTED_FINDINGS = 12  # of the code's findings, in the model's prompt
# Every part of the digest an audit can point into.
AUDIT_DIGEST = (
    "objectives", "milestones", "key_assumptions", "top_risks", "governance", "team", "team_gaps",
    "compliance", "procurement", "data_to_collect", "strategy", "premise",
)  # fmt: skip

AUDIT_SYSTEM = system_prompt("""\
You are an independent auditor doing the final check of this project plan against the failures that \
sink projects: work nobody owns, dates that cannot be met, a budget that does not add up or leaves \
costs out, risks without a working mitigation, and work that depends on a permit, licence or \
approval that will not be there in time. Automatic checks have already gone over the numbers; their \
findings are listed at the end. Do not repeat them.

Using the plan digest, find the failures those checks cannot see: owner roles that nobody on the \
team fills, deadlines that ignore lead times or seasons, costs the budget leaves out, mitigations \
that would not work, permits the schedule treats as a formality, and sections that contradict each \
other or the chosen strategy. For each finding say where it is (the section and the item), what is \
wrong, how to fix it, and how severe it is. Report only real problems: where the plan is sound, add \
nothing. Then give your overall verdict on how ready the plan is to be acted on.""")


class JudgedFinding(BaseModel):
    check: Check = Field(description="Which planning failure it is; consistency for contradictions.")
    where: Label = Field(description="The section and the item, e.g. 'Team: Head baker'.")
    finding: Sentence = Field(description="What is wrong.")
    fix: Sentence = Field(description="How to fix it.")
    severity: AuditSeverity = Field(description="high: the plan fails without a fix.")


class AuditAnswer(BaseModel):
    findings: list[JudgedFinding] = Field(max_length=6, description="Most severe first; empty if none.")
    verdict: Brief = Field(description="How ready the plan is to be acted on, in one or two sentences.")


class AuditCounts(BaseModel):
    high: int = Field(ge=0)
    medium: int = Field(ge=0)
    low: int = Field(ge=0)


class SelfAuditOutput(BaseModel):
    verdict: str
    counts: AuditCounts
    findings: list[Finding] = Field(description="Most severe first; the code's before the model's.")
    checks_run: list[str] = Field(description="The checks code made over the whole plan.")

    def prompt_digest(self) -> str:
        lines = [f"{f.severity}: {f.where}: {short(f.finding, 160)}" for f in self.findings[:6]]
        counts = ", ".join(f"{n} {level}" for level, n in self.counts.model_dump().items())
        return f"{len(self.findings)} findings ({counts}). {self.verdict}\n{bullets(lines)}"


def combine(checked: list[Finding], answer: AuditAnswer, checks_run: list[str]) -> SelfAuditOutput:
    judged = [Finding(**f.model_dump(), source="review") for f in answer.findings]
    findings = sorted([*checked, *judged], key=lambda f: SEVERITY_ORDER[f.severity])
    counts = AuditCounts(**{level: sum(f.severity == level for f in findings) for level in SEVERITY_ORDER})
    return SelfAuditOutput(verdict=answer.verdict, counts=counts, findings=findings, checks_run=checks_run)


class SelfAudit(PlanTask):
    title = "Self-audit"
    depends_on = (
        PlanDigest,
        ProjectPlan,
        Schedule,
        Budget,
        CostEstimates,
        RiskRegister,
        Compliance,
        ProcurementPlan,
        DataCollection,
        Raci,
        Wbs,
    )
    output_model = SelfAuditOutput
    system_prompt = AUDIT_SYSTEM
    calls_full = 1

    def inputs(self) -> AuditInputs:
        return AuditInputs(
            plan=self.load(ProjectPlan),
            schedule=self.load(Schedule),
            budget=self.load(Budget),
            costs=self.load(CostEstimates),
            risks=self.load(RiskRegister),
            compliance=self.load(Compliance),
            procurement=self.load(ProcurementPlan),
            data=self.load(DataCollection),
            raci=self.load(Raci),
            wbs=self.load(Wbs),
        )

    async def produce(self) -> SelfAuditOutput:
        checked = run_checks(self.inputs())
        listed = [f"{f.severity}: {f.where}: {f.finding}" for f in checked[:QUOTED_FINDINGS]]
        found = bullets(listed, limit=QUOTED_FINDINGS) if listed else "- none"
        more = f"\n(and {len(checked) - QUOTED_FINDINGS} more)" if len(checked) > QUOTED_FINDINGS else ""
        user = f"{digest_brief(self, AUDIT_DIGEST)}\n\n# Findings of the automatic checks\n{found}{more}"
        answer = await self.ask(self.system_prompt, user, AuditAnswer)
        return combine(checked, answer, [name for name, _ in CHECKS])
