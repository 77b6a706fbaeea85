"""The challenge to the premise: off the critical path, read by the assumptions and the reviews,
and shown near the top of the report."""

from __future__ import annotations

from planhelpers import RecordedPlan

from planexe.plan import dag
from planexe.plan.final import SECTIONS
from planexe.plan.premise import ChallengePremise, PremiseChallengeOutput
from planexe.plan.review import REVIEW_QUESTIONS
from planexe.plan.safety import SafetyGate


def premise_of(plan: RecordedPlan) -> PremiseChallengeOutput:
    task = ChallengePremise(run_dir=str(plan.run_dir))
    return task.load(ChallengePremise)  # type: ignore[no-any-return]


def test_it_costs_no_round_on_the_critical_path() -> None:
    rounds, path = dag.critical_path("full")
    assert ChallengePremise not in path and rounds == dag.CRITICAL_PATH_BUDGET
    assert ChallengePremise.depends_on == (SafetyGate,)


def test_the_assumptions_and_both_reviews_read_it(recorded_plan: RecordedPlan) -> None:
    premise = premise_of(recorded_plan)
    condition = premise.must_be_true[0].condition
    for step in ("make_assumptions", "review_assumptions"):
        prompt = recorded_plan.sent_by(step)
        assert f"## {ChallengePremise.heading()}" in prompt and condition in prompt, step
        assert premise.objections[0].argument in prompt
    # The plan review: its own question, and the assumptions question, quote it from the digest.
    question = REVIEW_QUESTIONS[-1][0]
    asking = [p for p in recorded_plan.prompts["review_plan"] if question in p]
    assert len(asking) == 1 and f"Verdict {premise.verdict}" in asking[0]
    assert "Premise objections:" in asking[0]
    assert f"Verdict {premise.verdict}" in recorded_plan.sent_by("executive_summary")


def test_the_report_shows_it_right_after_the_request_check(recorded_plan: RecordedPlan) -> None:
    keys = [s.step_name() for s in SECTIONS]
    assert keys.index("challenge_premise") == keys.index("safety_gate") + 1 < keys.index("identify_purpose")
    report = (recorded_plan.run_dir / "report.html").read_text()
    premise = premise_of(recorded_plan)
    section = report[report.index('id="challenge_premise"') :]
    assert section.index(premise.must_be_true[0].test) < section.index('id="identify_purpose"')


def test_a_digest_written_before_the_premise_and_strategy_still_loads(recorded_plan: RecordedPlan) -> None:
    from planexe.plan.digest import PlanDigest, PlanDigestOutput

    digest = PlanDigest(run_dir=str(recorded_plan.run_dir)).load(PlanDigest)
    older = digest.model_dump(exclude={"premise", "premise_objections", "strategy"})
    assert PlanDigestOutput.model_validate(older).premise == []
