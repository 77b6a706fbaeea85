"""The safety gate: the plan's first LLM step, one small call that decides whether to plan at all.

A request a responsible planner would not help with (violence, weapons, fraud,
self-harm, clear illegality) ends the run here, before a hundred calls are spent
planning harm. The runner builds this step on its own first (``pipeline/runner.py``);
on a refusal it builds ``RefusalReport`` instead of the plan, which writes a short
report saying why, and the run ends ``refused`` (exit code 7), not failed. The
decision and its reason stay in the step's output like any other step's.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from planexe.llm.stand_in import SAFETY_SCHEMA
from planexe.pipeline.base import LLMStep, PlanTask
from planexe.pipeline.rundir import REPORT_FILE, atomic_write_text
from planexe.plan.common import system_prompt
from planexe.plan.setup import Setup
from planexe.plan.text import Brief, Sentence
from planexe.report.refusal import Refusal, render_refusal

GATE_SYSTEM = system_prompt("""\
You are the intake reviewer of a project-planning service. Before any planning starts, decide \
whether the project in the description is one a responsible professional planner would help with.

Refuse only when carrying out the project as described would mainly serve to:
- hurt, threaten or kill people or animals, or prepare an attack (violence, terrorism);
- make, obtain or use weapons able to cause serious harm outside a lawful, licensed setting, \
explosives and chemical, biological, radiological or nuclear agents included;
- deceive people out of money, data or rights (fraud, scams, forgery, money laundering);
- help a person harm themselves (suicide, self-harm, dangerous starvation);
- do something that is illegal almost everywhere (trafficking people or drugs, exploiting \
children, stalking or secretly surveilling a person, evading a criminal investigation, breaking \
into systems without the owner's consent).

Plan everything else, including projects that are risky, regulated, unusual or controversial but \
legitimate: a licensed gun shop, a security firm, a pharmacy, a protest march, a hunting trip, a \
demolition, a penetration test the client ordered, a harm-reduction service. Their risks and \
permits are for the later planning steps. Do not refuse because a word sounds alarming; read an \
ambiguous request in its most plausible lawful sense.

Fill the fields in order:
- reason: one sentence on what the request really asks for and why it does or does not cross the \
line above;
- category: "none" if you plan it, otherwise the kind of harm that fits best;
- decision: "plan" or "refuse";
- message: for a refusal, a short and polite note to the person who asked: PlanExe will not plan \
this, why in plain words, without lecturing, and, if there is one, a legitimate project close to \
theirs that it could plan instead; when you plan it, one sentence saying the request was accepted.""")

HarmCategory = Literal["none", "violence", "weapons", "fraud", "self_harm", "illegal", "other_harm"]


class SafetyVerdict(BaseModel):
    reason: Sentence = Field(description="What the request asks for and why it is or is not planned.")
    category: HarmCategory = Field(description="none when planned; otherwise the kind of harm.")
    decision: Literal["plan", "refuse"] = Field(description="plan: go ahead; refuse: stop here.")
    message: Brief = Field(
        description="For a refusal, the polite note to the person; otherwise that the request was accepted."
    )

    @property
    def refused(self) -> bool:
        return self.decision == "refuse"


assert SafetyVerdict.__name__ == SAFETY_SCHEMA  # the stand-ins recognise the gate by this title


class SafetyGate(LLMStep):
    title = "Request check"
    depends_on = (Setup,)
    output_model = SafetyVerdict
    system_prompt = GATE_SYSTEM
    quotable = False  # a plan only exists once the gate let it through; later steps need not read it


class RefusalOutput(BaseModel):
    report_file: str = Field(description="Name of the HTML report in the run directory.")
    category: str
    reason: str
    message: str


class RefusalReport(PlanTask):
    """The report of a refused plan: the decision and why (code only, not part of the plan's DAG)."""

    title = "Request declined"
    depends_on = (SafetyGate,)
    output_model = RefusalOutput
    extra_outputs = (REPORT_FILE,)

    async def produce(self) -> RefusalOutput:
        refusal = refusal_content(gate_envelope(Path(self.run_dir)), self.plan.prompt)
        html = render_refusal(refusal, generated_at=datetime.now(UTC))
        atomic_write_text(Path(self.run_dir) / REPORT_FILE, html)
        return RefusalOutput(
            report_file=REPORT_FILE, category=refusal.category, reason=refusal.reason, message=refusal.message
        )


def refusal_content(envelope: dict[str, Any], prompt: str) -> Refusal:
    """What a refused plan's report shows, from the gate's output envelope (its file's JSON)."""
    verdict = SafetyVerdict.model_validate(envelope["data"])
    return Refusal(
        prompt=prompt,
        reason=verdict.reason,
        category=verdict.category,
        message=verdict.message,
        offline=bool(envelope.get("offline")),
        models=[str(m) for m in envelope.get("models") or []],
    )


def gate_envelope(run_dir: Path) -> dict[str, Any]:
    envelope: dict[str, Any] = json.loads((run_dir / SafetyGate.output_filename()).read_text("utf-8"))
    return envelope


def refusal_record(run_dir: Path) -> dict[str, str] | None:
    """What the run records of a refusal (category, reason, message); None if the gate let it through."""
    verdict = refusal_of(run_dir)
    if verdict is None:
        return None
    return {"category": verdict.category, "reason": verdict.reason, "message": verdict.message}


def refusal_of(run_dir: Path) -> SafetyVerdict | None:
    """The gate's verdict if it refused the plan; None if it let it through or has not decided."""
    if not (run_dir / SafetyGate.output_filename()).exists():
        return None
    verdict = SafetyVerdict.model_validate(gate_envelope(run_dir)["data"])
    return verdict if verdict.refused else None
