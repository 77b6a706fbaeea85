"""The challenge to the premise: whether to do the project at all, before planning how.

One call right after the safety gate, from the description alone, so it costs no
round on the critical path: the assumptions, the assumption review and the plan
review read it (through ``prompt_digest`` and the plan digest), and the report
shows it near the top.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from planexe.pipeline.base import LLMStep
from planexe.plan.common import Level, system_prompt
from planexe.plan.safety import SafetyGate
from planexe.plan.text import Brief, Phrase, Sentence, bullets

PREMISE_SYSTEM = system_prompt("""\
You are a sceptical investor's advisor asked to challenge this project before anyone plans how to \
do it. Everyone else will take the idea for granted; your job is to find the strongest reasons it \
may be the wrong thing to do, so the plan can answer them or the sponsor can stop early.

First state the premise: what the project takes for granted is worth doing, for whom, and why now.

Then give the strongest objections, each from one angle:
- mistaken: the need, demand or benefit it assumes may not exist, or not at the size it needs;
- mistimed: it may be too early or too late (market, technology, regulation, season, the sponsor's \
situation);
- wrong_problem: it may treat a symptom, or the real problem may lie elsewhere;
- better_alternative: a cheaper, simpler or proven way could reach the same goal;
- not_worth_it: even if it works, the cost, risk or effort may outweigh the gain.
Make each objection specific to this project, in its strongest honest form, with the fact that \
would show it is right; rate how strong it is. Do not invent weak objections to fill the list.

Then list what would have to be true for the project to be worth doing, each with a cheap test that \
can be run before money is committed and the point by which it must be known. Say how the project \
could be aimed better if the objections hold, and give your verdict: sound (the premise holds), \
conditional (it holds only if the conditions prove true), or doubtful (the objections are likely \
right).""")

Angle = Literal["mistaken", "mistimed", "wrong_problem", "better_alternative", "not_worth_it"]
PremiseVerdict = Literal["sound", "conditional", "doubtful"]


class Objection(BaseModel):
    angle: Angle = Field(description="The way in which the project may be mistaken.")
    argument: Brief = Field(description="The objection in its strongest form, specific to this project.")
    evidence: Sentence = Field(description="The fact that would show the objection is right.")
    strength: Level = Field(description="How strong the objection is.")


class Condition(BaseModel):
    condition: Sentence = Field(description="What would have to be true for the project to be worth doing.")
    test: Sentence = Field(description="A cheap test to run before money is committed.")
    known_by: Phrase = Field(description="When it must be known, e.g. 'before signing the lease'.")


class PremiseChallengeOutput(BaseModel):
    premise: Sentence = Field(
        description="What the project takes for granted is worth doing, for whom, why now."
    )
    objections: list[Objection] = Field(min_length=3, max_length=5, description="Strongest first.")
    must_be_true: list[Condition] = Field(min_length=3, max_length=5, description="Most decisive first.")
    better_aim: Sentence = Field(description="How the project could be aimed better if the objections hold.")
    verdict: PremiseVerdict = Field(description="sound, conditional or doubtful.")
    verdict_reason: Brief = Field(description="Why, in one or two sentences.")

    def prompt_digest(self) -> str:
        """What the assumptions and the reviews answer: the verdict, the objections and the conditions."""
        objections = [f"{o.angle.replace('_', ' ')} ({o.strength}): {o.argument}" for o in self.objections]
        conditions = [f"{c.condition} Test: {c.test} (known {c.known_by})" for c in self.must_be_true]
        return "\n".join(
            [
                f"Verdict: {self.verdict}. {self.verdict_reason}",
                f"Objections:\n{bullets(objections)}",
                f"Must be true:\n{bullets(conditions)}",
                f"Better aim if they hold: {self.better_aim}",
            ]
        )

    def conditions(self) -> list[str]:
        """The conditions as the plan digest lists them."""
        return [f"{c.condition} (test: {c.test})" for c in self.must_be_true]


class ChallengePremise(LLMStep):
    title = "Challenge to the premise"
    # The description alone: starting right after the gate, beside the purpose, keeps it off the
    # critical path; the assumptions (two rounds later) are the first step to read it.
    depends_on = (SafetyGate,)
    output_model = PremiseChallengeOutput
    system_prompt = PREMISE_SYSTEM
