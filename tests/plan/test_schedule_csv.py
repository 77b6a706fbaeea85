"""The schedule as CSV: calendar days an item occupies, and the rows as the Gantt has them."""

from __future__ import annotations

import csv
import io
from datetime import date

from planexe.plan.schedule import ScheduledItem, ScheduleOutput
from planexe.plan.schedule_csv import COLUMNS, item_dates, schedule_csv

MONDAY = date(2030, 1, 7)


def item(start: float, duration: float, **extra: object) -> ScheduledItem:
    fields = {
        "id": "1.1",
        "name": "Permit, with a comma",
        "level": 2,
        "start_day": start,
        "duration_days": duration,
        "finish_day": start + duration,
        "slack_days": 0,
        "critical": True,
        "depends_on": [],
    }
    return ScheduledItem.model_validate({**fields, **extra})


def test_an_item_occupies_its_first_to_its_last_day_inclusive() -> None:
    assert item_dates(item(0, 5), MONDAY) == (MONDAY, date(2030, 1, 11))  # days 0..4
    assert item_dates(item(3, 0), MONDAY) == (date(2030, 1, 10), date(2030, 1, 10))  # a milestone
    assert item_dates(item(0.5, 1), MONDAY) == (MONDAY, date(2030, 1, 8))  # half of day 0, half of day 1
    assert item_dates(item(14.7, 5.33), MONDAY) == (date(2030, 1, 21), date(2030, 1, 27))


def test_rows_quote_names_and_list_dependencies() -> None:
    schedule = ScheduleOutput(
        total_duration_days=7,
        critical_path=["1.1", "1.2"],
        critical_path_names=["a", "b"],
        items=[
            item(0, 2),
            item(2, 5, id="1.2", name='Build "it"', depends_on=["1.1", "0.9"], critical=False),
        ],
    )
    text = schedule_csv(schedule, MONDAY)
    assert text.startswith(",".join(COLUMNS) + "\r\n")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["name"] for r in rows] == ["Permit, with a comma", 'Build "it"']
    assert rows[1]["depends_on"] == "1.1 0.9" and rows[1]["critical"] == "no"
    assert (rows[1]["start_date"], rows[1]["finish_date"]) == ("2030-01-09", "2030-01-13")
