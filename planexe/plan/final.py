"""The final step: every section and the schedule rendered into ``report.html``.

The report is written before this step's own output (a small manifest), so the
manifest existing, which is what makes the plan done, implies the report exists.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from planexe.pipeline.base import PlanTask
from planexe.pipeline.rundir import REPORT_FILE, atomic_write_text
from planexe.plan.assessment import PreProjectAssessment
from planexe.plan.assumptions import (
    ConsolidateAssumptions,
    DistillAssumptions,
    MakeAssumptions,
    ReviewAssumptions,
)
from planexe.plan.audit import SelfAudit
from planexe.plan.budget import Budget, CostEstimates
from planexe.plan.compliance import Compliance
from planexe.plan.data_collection import DataCollection
from planexe.plan.digest import PlanDigest
from planexe.plan.documents import (
    DraftDocumentsToCreate,
    DraftDocumentsToFind,
    FilterDocumentsToCreate,
    FilterDocumentsToFind,
    IdentifyDocuments,
)
from planexe.plan.experts import ExpertCriticism, ExpertReview, FindExperts
from planexe.plan.governance import (
    AuditMonitoring,
    DecisionRights,
    EscalationPath,
    Governance,
    GovernanceBodies,
)
from planexe.plan.locations import Currency, PhysicalLocations
from planexe.plan.premise import ChallengePremise
from planexe.plan.premortem import Premortem
from planexe.plan.procurement import ProcurementPlan
from planexe.plan.project_plan import ProjectPlan, SimilarProjects
from planexe.plan.purpose import DeterminePlanType, IdentifyPurpose, PurposeOutput
from planexe.plan.questions import QuestionsAndAnswers
from planexe.plan.review import ReviewPlan
from planexe.plan.risks import IdentifyRisks, RiskRegister
from planexe.plan.safety import SafetyGate
from planexe.plan.schedule import Schedule, ScheduleOutput, TaskDependencies
from planexe.plan.setup import Setup
from planexe.plan.stakeholders import CommunicationPlan, Stakeholders
from planexe.plan.strategy import FocusLevers, IdentifyLevers, Scenarios
from planexe.plan.summary import ExecutiveSummary, ExecutiveSummaryOutput, Pitch
from planexe.plan.swot import Swot
from planexe.plan.team import EnrichTeam, FindTeam, Raci, ReviewTeam, Team
from planexe.plan.wbs import Wbs, WbsLevel1, WbsLevel2, WbsLevel3
from planexe.report import GanttBar, ReportContent, Section, render_report

# Every step in report order; the steps that only feed a later consolidation sit just before it.
STEPS: tuple[type[PlanTask], ...] = (
    Setup,
    ExecutiveSummary,
    Pitch,
    SafetyGate,
    ChallengePremise,
    IdentifyPurpose,
    DeterminePlanType,
    PhysicalLocations,
    Currency,
    IdentifyLevers,
    FocusLevers,
    Scenarios,
    MakeAssumptions,
    DistillAssumptions,
    ReviewAssumptions,
    ConsolidateAssumptions,
    IdentifyRisks,
    RiskRegister,
    PreProjectAssessment,
    ProjectPlan,
    SimilarProjects,
    Compliance,
    GovernanceBodies,
    DecisionRights,
    EscalationPath,
    AuditMonitoring,
    Governance,
    Stakeholders,
    CommunicationPlan,
    FindTeam,
    EnrichTeam,
    ReviewTeam,
    Team,
    Raci,
    Swot,
    FindExperts,
    ExpertCriticism,
    ExpertReview,
    DataCollection,
    IdentifyDocuments,
    FilterDocumentsToFind,
    DraftDocumentsToFind,
    FilterDocumentsToCreate,
    DraftDocumentsToCreate,
    WbsLevel1,
    WbsLevel2,
    WbsLevel3,
    Wbs,
    TaskDependencies,
    Schedule,
    CostEstimates,
    Budget,
    ProcurementPlan,
    PlanDigest,
    ReviewPlan,
    Premortem,
    QuestionsAndAnswers,
    SelfAudit,
)

# Intermediate steps whose content a consolidated section already shows in full.
NOT_IN_REPORT: frozenset[type[PlanTask]] = frozenset(
    {
        Setup,
        IdentifyLevers,
        MakeAssumptions,
        DistillAssumptions,
        ReviewAssumptions,
        IdentifyRisks,
        GovernanceBodies,
        DecisionRights,
        EscalationPath,
        AuditMonitoring,
        FindTeam,
        EnrichTeam,
        ReviewTeam,
        FindExperts,
        ExpertCriticism,
        IdentifyDocuments,
        FilterDocumentsToFind,
        FilterDocumentsToCreate,
        WbsLevel1,
        WbsLevel2,
        WbsLevel3,
        TaskDependencies,
        PlanDigest,
    }
)
SECTIONS: tuple[type[PlanTask], ...] = tuple(s for s in STEPS if s not in NOT_IN_REPORT)
SUMMARY_DETAILS_TITLE = "Recommendation, decisions and next steps"


class ManifestSection(BaseModel):
    key: str
    title: str
    offline: bool
    models: list[str]


class ReportManifest(BaseModel):
    report_file: str = Field(description="Name of the HTML report in the run directory.")
    title: str
    offline: bool = Field(description="True if any section was made by the offline template generator.")
    section_count: int = Field(ge=0)
    sections: list[ManifestSection]
    gantt_bars: int = Field(ge=0)
    total_duration_days: float = Field(ge=0)
    critical_path: list[str]


Envelopes = Callable[[type[PlanTask]], dict[str, Any]]  # a step's output file, parsed


def read_envelope(run_dir: str, task: type[PlanTask]) -> dict[str, Any]:
    path = Path(run_dir) / task.output_filename()
    envelope: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return envelope


def plan_usage(envelopes: Envelopes) -> dict[str, Any] | None:
    """What every step's LLM calls used together (tokens, and cost where the models have prices)."""
    total: dict[str, Any] = {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0}
    costs = []
    for task in STEPS:
        usage = envelopes(task).get("usage") or {}
        for key in total:
            total[key] += int(usage.get(key) or 0)
        if usage.get("cost_usd") is not None:
            costs.append(float(usage["cost_usd"]))
    if costs:
        total["cost_usd"] = round(sum(costs), 6)
    return total if total["calls"] else None


def summary_text(summary: ExecutiveSummaryOutput) -> str:
    """The executive summary as the report's opening text: paragraphs, then key numbers as bullets."""
    recommendation = summary.recommendation.replace("_", " ")
    numbers = "\n".join(f"- {n.label}: {n.value}" for n in summary.key_numbers)
    return (
        f"{summary.headline}\n\n{summary.overview}\n\n"
        f"Recommendation: {recommendation}. {summary.recommendation_reason}\n\n{numbers}"
    )


def gantt_bars(schedule: ScheduleOutput) -> list[GanttBar]:
    return [
        GanttBar(
            id=item.id,
            label=f"{item.id} {item.name}",
            start_day=item.start_day,
            duration_days=item.duration_days,
            level=item.level,
            depends_on=list(item.depends_on),
            critical=item.critical,
        )
        for item in schedule.items
    ]


def report_content(envelopes: Envelopes, prompt: str) -> ReportContent:
    """What the report says, from the steps' outputs: the one source of the HTML report (written
    by the Report step from the run directory) and of its Markdown twin (built by the service from
    the outputs stored in the database)."""
    sections: list[Section] = []
    for task in SECTIONS:
        envelope = envelopes(task)
        data, title = envelope["data"], str(envelope.get("title") or task.heading())
        if task is ExecutiveSummary:
            # The headline and overview open the report; the rest is a section of its own.
            data = {k: v for k, v in data.items() if k not in ("headline", "overview")}
            title = SUMMARY_DETAILS_TITLE
        sections.append(
            Section(
                key=str(envelope.get("step") or task.step_name()),
                title=title,
                data=data,
                offline=bool(envelope.get("offline")),
                models=[str(m) for m in envelope.get("models") or []],
                usage=envelope.get("usage"),
            )
        )

    def load(task: type[PlanTask]) -> Any:
        return task.output_model.model_validate(envelopes(task)["data"])

    purpose: PurposeOutput = load(IdentifyPurpose)
    schedule: ScheduleOutput = load(Schedule)
    return ReportContent(
        title=purpose.project_title,
        prompt=prompt,
        sections=sections,
        gantt=gantt_bars(schedule),
        offline=any(s.offline for s in sections),
        summary=summary_text(load(ExecutiveSummary)),
        usage=plan_usage(envelopes),
    )


class Report(PlanTask):
    title = "Report"
    depends_on = STEPS
    output_model = ReportManifest
    extra_outputs = (REPORT_FILE,)

    async def produce(self) -> ReportManifest:
        content = report_content(lambda task: read_envelope(self.run_dir, task), self.plan.prompt)
        html = render_report(content, generated_at=datetime.now(UTC))
        atomic_write_text(Path(self.run_dir) / REPORT_FILE, html)
        schedule: ScheduleOutput = self.load(Schedule)
        return ReportManifest(
            report_file=REPORT_FILE,
            title=content.title,
            offline=content.offline,
            section_count=len(content.sections),
            sections=[
                ManifestSection(key=s.key, title=s.title, offline=s.offline, models=s.models)
                for s in content.sections
            ],
            gantt_bars=len(content.gantt),
            total_duration_days=schedule.total_duration_days,
            critical_path=schedule.critical_path,
        )
