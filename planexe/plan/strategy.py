"""Strategic levers and scenarios: the few decisions that shape everything else, and the one chosen.

Three calls in a row, all beside the critical path (it runs through the purpose,
currency and assumption steps at the same time):

1. ``IdentifyLevers``: candidate levers from the description, each with options.
2. ``FocusLevers``: near-duplicates are merged in code first (the same words in
   another order); the model then merges what is the same decision in other
   words and keeps the vital few, each with distinct options.
3. ``Scenarios``: three coherent combinations of one option per vital lever,
   asked with a schema whose fields are the real levers and options (enums), and
   one chosen with its reasons.

Later steps plan the chosen scenario: the assumptions, the assessment and the
project plan quote it, the project plan's digest repeats it for the twenty steps
that quote the plan, and the plan digest carries it to the closing steps. The
report shows the alternatives that were not taken.
"""

from __future__ import annotations

import re
from typing import Any, cast

from pydantic import BaseModel, Field, create_model

from planexe.pipeline.base import LLMStep, PlanTask
from planexe.plan.common import id_enum, list_of, retype, system_prompt
from planexe.plan.locations import Currency, PhysicalLocations
from planexe.plan.premise import ChallengePremise
from planexe.plan.purpose import IdentifyPurpose
from planexe.plan.safety import SafetyGate
from planexe.plan.text import Brief, Code, Label, Phrase, Sentence, bullets

VITAL_LEVERS = 4  # levers kept: the vital few
OPTIONS_PER_LEVER = 3
SCENARIO_COUNT = 3
SAME_WORDS = 0.75  # names sharing this share of their words are one lever (merged in code)

LEVERS_SYSTEM = system_prompt("""\
You are a strategy consultant listing the strategic levers of this project: the decisions, still \
open, that shape everything else (cost, schedule, risk, who the customers are, who does the work). \
For a bakery they might be the location tier, the product range, the financing and the staffing \
model; for software, build or buy, the platform, the pricing model and the launch market.

For each lever name the decision, say which parts of the plan it moves, and give the realistic \
options, from cautious to bold. Leave out decisions the description has already made, and details \
that do not change the shape of the plan (logo colours, the brand of laptops).""")

FOCUS_SYSTEM = system_prompt("""\
You are a strategy consultant narrowing the candidate levers of this project (listed with ids) to \
the vital few. Several candidates may be one decision in different words: name each duplicate and \
the lever it merges into. Then keep exactly the number of levers the schema asks for: those whose \
choice changes the plan most, judged against the project description and the challenge to its \
premise. For each, say why it is vital and give distinct, realistic options, each a coherent choice \
a sponsor could take (not "more" and "less" of the same thing).""")

SCENARIOS_SYSTEM = system_prompt("""\
You are a strategy consultant building scenarios for this project from its vital levers. A scenario \
picks one option for every lever, and the picks must fit together (a premium location goes with a \
premium range and the financing to pay for it). Build the number of scenarios the schema asks for, \
clearly different from each other: for instance a cautious one, a balanced one and a bold one. For \
each give a name, the strategy in one sentence, its choice for every lever, what it is strong at \
and what it gives up.

Then choose the scenario the plan should follow, given the description, the purpose, the place and \
the challenge to the premise, and give the reasons, including why not the others. The rest of the \
plan will be made for the scenario you choose.""")


class CandidateLever(BaseModel):
    name: Label = Field(description="The decision, e.g. 'Location tier'.")
    decides: Sentence = Field(description="What exactly is to be decided.")
    shapes: list[Phrase] = Field(
        min_length=1, max_length=3, description="Parts of the plan it moves: cost, schedule, team, risk."
    )
    options: list[Label] = Field(
        min_length=2, max_length=4, description="Realistic options, cautious to bold."
    )


class CandidateLeversOutput(BaseModel):
    levers: list[CandidateLever] = Field(min_length=6, max_length=10, description="Most decisive first.")


class LeverOption(BaseModel):
    name: Label = Field(description="The option, e.g. 'Side-street unit, low rent'.")
    description: Sentence = Field(description="What choosing it means for the project.")


class VitalLeverAnswer(BaseModel):
    lever_id: Code = Field(description="Id of the candidate lever kept, e.g. 'L2'.")
    name: Label = Field(description="The decision, sharpened if needed.")
    why_vital: Sentence = Field(description="Why this choice changes the plan so much.")
    options: list[LeverOption] = Field(min_length=OPTIONS_PER_LEVER, max_length=OPTIONS_PER_LEVER)


class MergedLever(BaseModel):
    duplicate_id: Code = Field(description="Id of the candidate that is the same decision as another.")
    into_id: Code = Field(description="Id of the candidate it merges into.")


class FocusAnswer(BaseModel):
    merged: list[MergedLever] = Field(max_length=6, description="Duplicates among the candidates.")
    vital: list[VitalLeverAnswer] = Field(
        min_length=VITAL_LEVERS, max_length=VITAL_LEVERS, description="The vital few, most decisive first."
    )


class Lever(BaseModel):
    id: str = Field(description="The candidate's id, L1, L2, ...")
    name: str
    why_vital: str
    options: list[LeverOption]


class SetAside(BaseModel):
    id: str
    name: str
    why: str = Field(description="A duplicate of another lever, or not among the vital few.")


class FocusedLevers(BaseModel):
    levers: list[Lever] = Field(description="The vital few, most decisive first.")
    set_aside: list[SetAside] = Field(description="Candidates merged into another or not kept.")

    def prompt_digest(self) -> str:
        lines = [f"{lv.id} {lv.name}: {' | '.join(o.name for o in lv.options)}" for lv in self.levers]
        return bullets(lines, limit=len(lines))


class ScenarioAnswer(BaseModel):
    name: Label = Field(description="A short name, e.g. 'Neighbourhood bakery, self-funded'.")
    strategy: Sentence = Field(description="The strategy in one sentence.")
    strengths: Sentence = Field(description="What this scenario is strong at.")
    gives_up: Sentence = Field(description="What it gives up or risks.")


class ScenariosAnswer(BaseModel):
    scenarios: list[ScenarioAnswer] = Field(min_length=SCENARIO_COUNT, max_length=SCENARIO_COUNT)
    chosen: int = Field(
        ge=1, le=SCENARIO_COUNT, description="Number of the chosen scenario in the list, from 1."
    )
    reasons: list[Sentence] = Field(min_length=2, max_length=4, description="Why the chosen scenario.")
    why_not_the_others: Brief = Field(description="Why the other scenarios were not chosen.")


class Decision(BaseModel):
    lever: str
    option: str


class Scenario(BaseModel):
    name: str
    strategy: str
    decisions: list[Decision] = Field(description="One option per vital lever.")
    strengths: str
    gives_up: str


class ScenariosOutput(BaseModel):
    chosen: Scenario = Field(description="The scenario the plan follows.")
    reasons: list[str] = Field(description="Why it was chosen.")
    not_taken: list[Scenario] = Field(description="The alternatives that were not taken.")
    why_not_the_others: str

    def strategy_line(self) -> str:
        """The chosen scenario in one line, as the project plan's digest repeats it."""
        decisions = "; ".join(f"{d.lever}: {d.option}" for d in self.chosen.decisions)
        return f"{self.chosen.name}: {self.chosen.strategy} ({decisions})"

    def chosen_digest(self) -> str:
        """The chosen scenario and why, for a step that plans it and need not weigh the others."""
        return f"Chosen strategy: {self.strategy_line()}\nWhy: {' '.join(self.reasons)}"

    def prompt_digest(self) -> str:
        not_taken = [f"{s.name}: {s.gives_up}" for s in self.not_taken]
        return f"{self.chosen_digest()}\nNot taken:\n{bullets(not_taken)}"


SMALL_WORDS = frozenset(
    [
        "the",
        "and",
        "for",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "with",
        "or",
        "from",
        "into",
        "its",
        "their",
        "our",
        "your",
    ]
)


def _words(name: str) -> frozenset[str]:
    return frozenset(w for w in re.findall(r"\w+", name.lower()) if len(w) > 1 and w not in SMALL_WORDS)


def same_lever(a: str, b: str) -> bool:
    """True for two lever names that are the same words, give or take order and small words."""
    wa, wb = _words(a), _words(b)
    if not wa or not wb:
        return a.strip().lower() == b.strip().lower()
    return len(wa & wb) / len(wa | wb) >= SAME_WORDS


def dedupe(levers: list[CandidateLever]) -> tuple[list[tuple[str, CandidateLever]], list[SetAside]]:
    """The candidates with their ids (L1, L2, ... in the order given), near-duplicates dropped."""
    kept: list[tuple[str, CandidateLever]] = []
    dropped: list[SetAside] = []
    for index, lever in enumerate(levers, start=1):
        lever_id = f"L{index}"
        twin = next((kid for kid, k in kept if same_lever(k.name, lever.name)), None)
        if twin is None:
            kept.append((lever_id, lever))
        else:
            dropped.append(SetAside(id=lever_id, name=lever.name, why=f"the same decision as {twin}"))
    return kept, dropped


def focus(
    candidates: list[tuple[str, CandidateLever]], dropped: list[SetAside], answer: FocusAnswer
) -> FocusedLevers:
    """The vital levers the model kept (each once), and every other candidate with why it was set aside."""
    names = dict((cid, c.name) for cid, c in candidates)
    levers: list[Lever] = []
    for vital in answer.vital:
        if vital.lever_id in names and all(lv.id != vital.lever_id for lv in levers):
            levers.append(
                Lever(id=vital.lever_id, name=vital.name, why_vital=vital.why_vital, options=vital.options)
            )
    kept = {lv.id for lv in levers}
    merged = {m.duplicate_id: m.into_id for m in answer.merged if m.duplicate_id != m.into_id}
    set_aside = list(dropped)
    for cid, name in names.items():
        if cid in kept:
            continue
        why = f"the same decision as {merged[cid]}" if cid in merged else "not among the vital few"
        set_aside.append(SetAside(id=cid, name=name, why=why))
    set_aside.sort(key=lambda s: int(s.id[1:]))
    return FocusedLevers(levers=levers, set_aside=set_aside)


def choices_model(levers: list[Lever]) -> type[BaseModel]:
    """A model with one field per vital lever, each an enum of that lever's option names."""
    fields: dict[str, Any] = {
        lv.id: (id_enum([o.name for o in lv.options]), Field(description=f"The option chosen for: {lv.name}"))
        for lv in levers
    }
    return cast(type[BaseModel], create_model("LeverChoices", **fields))


def scenarios_model(levers: list[Lever]) -> type[ScenariosAnswer]:
    """The scenarios answer, with each scenario's ``choices`` typed by the real levers and options."""
    scenario = create_model(
        "ScenarioAnswer",
        __base__=ScenarioAnswer,
        choices=(choices_model(levers), Field(description="The option this scenario picks for each lever.")),
    )
    return retype(ScenariosAnswer, scenarios=list_of(scenario))


def build_scenarios(levers: list[Lever], answer: ScenariosAnswer) -> ScenariosOutput:
    def scenario(item: ScenarioAnswer) -> Scenario:
        # The answer model has ``choices`` (built per plan by scenarios_model); the static one does not.
        picked = item.model_dump()["choices"]
        return Scenario(
            name=item.name,
            strategy=item.strategy,
            decisions=[Decision(lever=lv.name, option=str(picked[lv.id])) for lv in levers],
            strengths=item.strengths,
            gives_up=item.gives_up,
        )

    built = [scenario(s) for s in answer.scenarios]
    chosen = answer.chosen - 1
    return ScenariosOutput(
        chosen=built[chosen],
        reasons=list(answer.reasons),
        not_taken=[s for i, s in enumerate(built) if i != chosen],
        why_not_the_others=answer.why_not_the_others,
    )


class IdentifyLevers(LLMStep):
    title = "Candidate levers"
    # The description alone, right after the gate: the three strategy calls then finish
    # beside the purpose-currency-assumptions chain, before the first step that reads them.
    depends_on = (SafetyGate,)
    output_model = CandidateLeversOutput
    system_prompt = LEVERS_SYSTEM


class FocusLevers(PlanTask):
    title = "Strategic levers"
    depends_on = (IdentifyLevers, ChallengePremise)
    output_model = FocusedLevers
    system_prompt = FOCUS_SYSTEM
    calls_full = 1

    async def produce(self) -> FocusedLevers:
        identified: CandidateLeversOutput = self.load(IdentifyLevers)
        candidates, dropped = dedupe(identified.levers)
        ids = [cid for cid, _ in candidates]
        listing = "\n".join(
            f"{cid}: {c.name}: {c.decides} Options: {'; '.join(c.options)}" for cid, c in candidates
        )
        user = f"{self.brief(ChallengePremise)}\n\n# Candidate levers\n{listing}"
        vital = retype(VitalLeverAnswer, lever_id=id_enum(ids))
        merged = retype(MergedLever, duplicate_id=id_enum(ids), into_id=id_enum(ids))
        asked = retype(FocusAnswer, vital=list_of(vital), merged=list_of(merged))
        answer = await self.ask(self.system_prompt, user, asked)
        return focus(candidates, dropped, answer)


class Scenarios(PlanTask):
    title = "Scenarios and the chosen strategy"
    depends_on = (FocusLevers, ChallengePremise, IdentifyPurpose, PhysicalLocations, Currency)
    output_model = ScenariosOutput
    system_prompt = SCENARIOS_SYSTEM
    calls_full = 1

    async def produce(self) -> ScenariosOutput:
        focused: FocusedLevers = self.load(FocusLevers)
        levers = [
            f"{lv.id} {lv.name} ({lv.why_vital}) Options: "
            + "; ".join(f"{o.name}: {o.description}" for o in lv.options)
            for lv in focused.levers
        ]
        user = (
            f"{self.brief(IdentifyPurpose, PhysicalLocations, Currency, ChallengePremise)}\n\n"
            f"# Vital levers\n{bullets(levers, limit=len(levers))}"
        )
        answer = await self.ask(self.system_prompt, user, scenarios_model(focused.levers))
        return build_scenarios(focused.levers, answer)
