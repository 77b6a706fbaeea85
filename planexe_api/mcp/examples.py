"""prompt_examples: prompts that show an agent what a good plan request looks like."""

from __future__ import annotations

from planexe_api.mcp.outputs import PromptExample, PromptExamplesOut

_EXAMPLES = [
    PromptExample(
        title="Neighbourhood bakery",
        prompt=(
            "Open a small sourdough bakery with a café corner in Nørrebro, Copenhagen, run by two "
            "founders who are trained bakers but have never run a business. The budget is 1.8 million "
            "DKK from savings and a bank loan, and the doors should open within nine months. The shop "
            "needs a lease on a ground-floor unit with room for a deck oven, approval from the food "
            "authority, and two part-time staff for the counter. Bread is baked at night and sold from "
            "7 am; wholesale to three local restaurants should cover a quarter of revenue by the end "
            "of the first year. Success means breaking even by month eighteen without the founders "
            "working more than sixty hours a week."
        ),
    ),
    PromptExample(
        title="Community solar cooperative",
        prompt=(
            "Set up an energy cooperative in a village of 1,200 people in rural Portugal that builds "
            "and owns a 500 kW solar park on municipal land and sells the power to its members below "
            "the grid tariff. Residents buy shares of 250 euros; the target is 300 members and a "
            "European rural development grant for a third of the 450,000 euro cost. The plan must "
            "cover the legal form of the cooperative, the land agreement with the municipality, grid "
            "connection with the distribution operator, procurement and installation, and a board "
            "elected by the members. Construction should finish within two years of founding, and the "
            "cooperative must pay its members a dividend from the fourth year."
        ),
    ),
    PromptExample(
        title="Rural health clinic",
        prompt=(
            "Open a primary-care clinic with three treatment rooms, a small laboratory and a pharmacy "
            "counter in a district town in northern Ghana, serving about 40,000 people who now travel "
            "two hours to the nearest doctor. A health NGO funds the building and the first two years "
            "of running costs, 600,000 US dollars in total, after which the clinic must cover half of "
            "its costs from the national health insurance scheme. It needs a licence from the health "
            "ministry, a doctor, four nurses and a lab technician recruited locally where possible, a "
            "reliable supply of medicines, and solar power with a backup generator. Open within "
            "fourteen months and see 1,000 patients a month by the end of the first year."
        ),
    ),
    PromptExample(
        title="Software product launch",
        prompt=(
            "Launch a subscription web app that lets independent physiotherapists book patients, keep "
            "treatment notes and send home-exercise videos, starting in Germany and then the rest of "
            "the EU. A team of four developers, one designer and a part-time product lead has twelve "
            "months and 900,000 euros of seed funding. The app must meet GDPR and German rules for "
            "health data, integrate with two common calendar systems, and work on tablets in the "
            "treatment room. The first release goes to 30 pilot clinics after six months; the public "
            "launch follows at month ten. The goal is 400 paying practices at 49 euros a month by the "
            "end of the first year after launch, with monthly churn under three percent."
        ),
    ),
]

_MESSAGE = (
    "These show the shape of a good prompt: one paragraph of flowing prose that says what the "
    "project is, where, who it is for, the budget and resources, the timeline, the constraints "
    "(rules, permits, staff) and what success means. Turn the user's idea into a prompt like these "
    "(ask the user about gaps that matter), show it to the user, and call plan_create once they "
    "agree. A one-line idea also works but gives a vaguer plan. PlanExe always runs its whole "
    "planning pipeline; it is meant for projects of weeks to years, not for a quick checklist."
)


def prompt_examples() -> PromptExamplesOut:
    return PromptExamplesOut(samples=list(_EXAMPLES), message=_MESSAGE)
