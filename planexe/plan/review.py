"""Plan review: a fixed set of review questions, each answered in its own call (a batch)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from planexe.pipeline.base import PlanTask
from planexe.plan.common import by_detail, system_prompt
from planexe.plan.digest import PlanDigest, digest_brief
from planexe.plan.text import Sentence, bullets, short

# Most important first: fast detail asks only the first REVIEWED_FAST. Each question quotes the
# parts of the plan digest it is about (besides the essentials every question gets).
REVIEW_QUESTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "Is the schedule realistic? Check the total duration, the critical path and the time given to "
        "permits, hiring and procurement against what such work usually takes in this location.",
        ("milestones", "compliance", "procurement", "team"),
    ),
    (
        "Is the budget credible? Compare the bottom-up estimate with the plan's outline and the "
        "assumptions, and name the cost items most likely to be underestimated.",
        ("key_assumptions", "procurement", "team", "deliverables"),
    ),
    (
        "Are the biggest risks really under control? Which top risks lack a working mitigation, an early "
        "warning or an owner?",
        ("top_risks", "expert_concerns", "governance"),
    ),
    (
        "Which assumptions does the plan depend on most, which of them are weakest, and how should they "
        "be verified before money is committed?",
        ("key_assumptions", "data_to_collect", "top_risks", "premise"),
    ),
    (
        "Which legal, regulatory, permit or safety requirements for this location does the plan miss or "
        "underestimate?",
        ("compliance", "scope_in", "key_documents"),
    ),
    (
        "Does the team have the skills and capacity to deliver? Which roles are missing, overloaded or "
        "single points of failure?",
        ("team", "team_gaps", "deliverables"),
    ),
    (
        "Is the scope clear and consistent with the objectives and deliverables? What is ambiguous, "
        "missing or likely to creep?",
        ("objectives", "scope_in", "scope_out", "deliverables"),
    ),
    (
        "Is the governance proportionate: do the bodies, decision rights, escalation and monitoring fit "
        "the project's size and risks?",
        ("governance", "stakeholders", "top_risks"),
    ),
    (
        "Which stakeholders could block or delay the project, and is the way the plan engages them enough?",
        ("stakeholders", "compliance", "top_risks"),
    ),
    (
        "After delivery, will the project sustain itself? Are the revenue, funding, operating costs or "
        "benefits that it relies on realistic?",
        ("objectives", "swot", "key_assumptions"),
    ),
    (
        "Does the plan answer the challenge to its premise? Does it test each condition that must be "
        "true early and cheaply, before money is committed, and what becomes of it if the strongest "
        "objection proves right?",
        ("premise", "premise_objections", "data_to_collect", "milestones"),
    ),
)
REVIEWED_FULL = len(REVIEW_QUESTIONS)
REVIEWED_FAST = 4

REVIEW_SYSTEM = system_prompt("""\
You are an experienced, independent plan reviewer answering one review question about this project \
plan (the question is at the end of the message). Work from the plan digest and cite its specific \
numbers, names and items. List concrete findings (what is wrong, missing or at risk, and why), give \
your verdict, and recommend the single most valuable change. If the plan is sound on this question, \
say so and why; do not manufacture problems.""")

Verdict = Literal["sound", "needs_work", "critical_gap"]


class ReviewAnswer(BaseModel):
    findings: list[Sentence] = Field(
        min_length=2, max_length=4, description="Concrete findings, most important first."
    )
    verdict: Verdict = Field(description="sound, needs_work, or critical_gap (the plan fails without a fix).")
    recommendation: Sentence = Field(description="The single most valuable change.")


class ReviewItem(ReviewAnswer):
    question: str


class VerdictCounts(BaseModel):
    sound: int = Field(ge=0)
    needs_work: int = Field(ge=0)
    critical_gap: int = Field(ge=0)


class ReviewPlanOutput(BaseModel):
    verdicts: VerdictCounts
    items: list[ReviewItem]

    def prompt_digest(self) -> str:
        counts = ", ".join(f"{n} {v.replace('_', ' ')}" for v, n in self.verdicts.model_dump().items() if n)
        lines = [
            f"{i.verdict.replace('_', ' ')}: {short(i.question, 70)} Fix: {short(i.recommendation, 200)}"
            for i in self.items
        ]
        return f"{counts}\n{bullets(lines, limit=len(lines))}"


class ReviewPlan(PlanTask):
    title = "Plan review"
    depends_on = (PlanDigest,)
    output_model = ReviewPlanOutput
    system_prompt = REVIEW_SYSTEM
    calls_full = REVIEWED_FULL
    calls_fast = REVIEWED_FAST
    batched = True

    async def produce(self) -> ReviewPlanOutput:
        questions = REVIEW_QUESTIONS[: by_detail(self.detail, REVIEWED_FULL, REVIEWED_FAST)]

        async def answer(indexed: tuple[int, tuple[str, tuple[str, ...]]]) -> ReviewItem:
            number, (question, fields) = indexed
            user = f"{digest_brief(self, fields)}\n\n# Review question\n{question}"
            result = await self.ask(self.system_prompt, user, ReviewAnswer, label=f"q{number}")
            return ReviewItem(**result.model_dump(), question=question)

        items = await self.batch(list(enumerate(questions, start=1)), answer)
        counts = VerdictCounts(
            sound=sum(i.verdict == "sound" for i in items),
            needs_work=sum(i.verdict == "needs_work" for i in items),
            critical_gap=sum(i.verdict == "critical_gap" for i in items),
        )
        return ReviewPlanOutput(verdicts=counts, items=items)
