"""Strategic levers and scenarios: duplicates merged, the vital few kept, scenarios built from the
real options, and the chosen one planned by the steps after it."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from planhelpers import RecordedPlan, record_plan

from planexe.llm.strict import to_strict, violations
from planexe.plan import dag
from planexe.plan.final import NOT_IN_REPORT, SECTIONS
from planexe.plan.strategy import (
    CandidateLever,
    Decision,
    FocusAnswer,
    FocusLevers,
    IdentifyLevers,
    Lever,
    LeverOption,
    MergedLever,
    Scenario,
    ScenarioAnswer,
    Scenarios,
    ScenariosAnswer,
    ScenariosOutput,
    VitalLeverAnswer,
    build_scenarios,
    dedupe,
    focus,
    same_lever,
    scenarios_model,
)

# Steps after the scenarios that must plan the chosen one: directly, through the project plan's
# digest, or through the plan digest.
DOWNSTREAM = (
    "distill_assumptions",
    "pre_project_assessment",
    "project_plan",
    "wbs_level1",
    "find_team",
    "compliance",
    "procurement_plan",
    "review_plan",
    "executive_summary",
    "premortem",
)


def candidate(name: str, options: tuple[str, ...] = ("a", "b", "c")) -> CandidateLever:
    return CandidateLever(name=name, decides="d", shapes=["cost"], options=list(options))


def lever(lever_id: str, *options: str) -> Lever:
    return Lever(
        id=lever_id,
        name=f"Lever {lever_id}",
        why_vital="w",
        options=[LeverOption(name=o, description="x") for o in options],
    )


def test_the_same_words_in_another_order_are_one_lever() -> None:
    assert same_lever("Location tier", "Tier of the location")
    assert not same_lever("Location tier", "Financing model")
    kept, dropped = dedupe([candidate("Location tier"), candidate("Financing"), candidate("tier, location")])
    assert [cid for cid, _ in kept] == ["L1", "L2"]
    assert [(d.id, d.why) for d in dropped] == [("L3", "the same decision as L1")]


def test_focus_keeps_each_vital_lever_once_and_says_why_the_rest_were_set_aside() -> None:
    kept, dropped = dedupe(
        [candidate(n) for n in ("Site choice", "Range", "Money", "Staff", "Choice of site", "Hours")]
    )
    options = [LeverOption(name=f"o{i}", description="x") for i in range(3)]
    vital = [
        VitalLeverAnswer(lever_id=i, name=f"V{i}", why_vital="w", options=options)
        for i in ("L2", "L1", "L2", "L4")
    ]
    answer = FocusAnswer(merged=[MergedLever(duplicate_id="L6", into_id="L4")], vital=vital)
    focused = focus(kept, dropped, answer)
    assert [lv.id for lv in focused.levers] == ["L2", "L1", "L4"]
    reasons = {s.id: s.why for s in focused.set_aside}
    assert reasons == {
        "L3": "not among the vital few",
        "L5": "the same decision as L1",  # merged in code: "Choice of site" and "Site choice"
        "L6": "the same decision as L4",
    }


def test_scenarios_are_asked_with_the_real_levers_and_options() -> None:
    levers = [
        lever("L1", "Side street", "High street", "Mall"),
        lever("L4", "Savings", "Bank loan", "Investors"),
    ]
    model = scenarios_model(levers)
    schema = model.model_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert violations(to_strict(schema), "ScenariosAnswer") == []
    choices = schema["$defs"]["LeverChoices"]["properties"]
    assert choices["L1"]["enum"] == ["Side street", "High street", "Mall"]
    assert choices["L4"]["enum"] == ["Savings", "Bank loan", "Investors"]
    answer = {
        "scenarios": [
            {
                "name": n,
                "strategy": "s",
                "strengths": "g",
                "gives_up": "u",
                "choices": {"L1": site, "L4": money},
            }
            for n, site, money in (
                ("Careful", "Side street", "Savings"),
                ("Bold", "Mall", "Investors"),
                ("Mid", "High street", "Bank loan"),
            )
        ],
        "chosen": 3,
        "reasons": ["r1", "r2"],
        "why_not_the_others": "w",
    }
    built = build_scenarios(levers, model.model_validate(answer))
    assert built.chosen.name == "Mid"
    assert built.chosen.decisions == [
        Decision(lever="Lever L1", option="High street"),
        Decision(lever="Lever L4", option="Bank loan"),
    ]
    assert [s.name for s in built.not_taken] == ["Careful", "Bold"]
    with pytest.raises(ValueError):  # an option the lever does not have
        model.model_validate(
            {
                **answer,
                "scenarios": [{**answer["scenarios"][0], "choices": {"L1": "Moon", "L4": "Savings"}}] * 3,
            }
        )
    assert (
        ScenarioAnswer.model_fields.keys()
        <= model.model_fields["scenarios"].annotation.__args__[0].model_fields.keys()
    )  # type: ignore[union-attr]
    assert ScenariosAnswer.model_fields["chosen"].metadata  # bounded 1..3


def test_the_three_calls_stay_off_the_critical_path() -> None:
    rounds, path = dag.critical_path("full")
    assert rounds == dag.CRITICAL_PATH_BUDGET
    assert not {IdentifyLevers, FocusLevers, Scenarios} & set(path)
    assert {FocusLevers, Scenarios} <= set(SECTIONS) and IdentifyLevers in NOT_IN_REPORT


PLANTED = ScenariosOutput(
    chosen=Scenario(
        name="Harbour kiosk with crowdfunding",
        strategy="Sell from a kiosk at Nordhavn, paid for by 300 backers.",
        decisions=[
            Decision(lever="Site", option="Kiosk at Nordhavn"),
            Decision(lever="Money", option="Crowdfunding"),
        ],
        strengths="Cheap to start.",
        gives_up="Seats and a kitchen.",
    ),
    reasons=["The backers are the first customers."],
    not_taken=[
        Scenario(
            name="Flagship café on Strøget",
            strategy="A 120-seat café.",
            decisions=[Decision(lever="Site", option="Strøget"), Decision(lever="Money", option="Bank loan")],
            strengths="Visibility.",
            gives_up="Two million kroner of debt.",
        )
    ],
    why_not_the_others="Too much debt for a first shop.",
)


def plant_choice(run_dir: Path) -> None:
    """The scenarios' output written before the run: Luigi counts the step done and later steps read it."""
    envelope = {"step": "scenarios", "title": Scenarios.heading(), "offline": True, "models": [],
                "created_at": 0, "data": PLANTED.model_dump(mode="json")}  # fmt: skip
    (run_dir / Scenarios.output_filename()).write_text(json.dumps(envelope))


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> RecordedPlan:
    return record_plan(tmp_path_factory.mktemp("planted"), prepare=plant_choice)


@pytest.mark.parametrize("step", DOWNSTREAM)
def test_the_chosen_scenario_reaches_every_later_step(planted: RecordedPlan, step: str) -> None:
    prompt = planted.sent_by(step)
    assert "Harbour kiosk with crowdfunding" in prompt and "Money: Crowdfunding" in prompt, step
    if step not in ("distill_assumptions", "pre_project_assessment"):
        # Only the two steps that weigh the strategy see what was not taken.
        assert "Flagship café on Strøget" not in prompt, step


def test_the_report_shows_the_choice_and_the_alternatives_not_taken(planted: RecordedPlan) -> None:
    report = (planted.run_dir / "report.html").read_text()
    section = report[report.index('id="scenarios"') :]
    assert "Harbour kiosk with crowdfunding" in section and "Not taken" in section
    assert "Flagship café on Strøget" in section and "Two million kroner of debt." in section


def test_an_ordinary_run_plans_its_own_choice(recorded_plan: RecordedPlan) -> None:
    chosen: ScenariosOutput = Scenarios(run_dir=str(recorded_plan.run_dir)).load(Scenarios)
    for step in ("project_plan", "review_plan", "executive_summary"):
        assert chosen.chosen.name in recorded_plan.sent_by(step), step
