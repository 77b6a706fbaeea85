"""The schedule as CSV, for spreadsheets and project tools: the Gantt's rows with dates.

One row per WBS item in WBS order (phases, packages, tasks), with its earliest
start and finish in days from the project start and as calendar dates from
``start``, its slack, whether it is on the critical path, and the ids it waits
for, space-separated (ids contain dots, never spaces).
"""

from __future__ import annotations

import csv
import io
import math
from datetime import date, timedelta

from planexe.plan.schedule import ScheduledItem, ScheduleOutput

COLUMNS = (
    "id",
    "name",
    "level",
    "start_day",
    "duration_days",
    "finish_day",
    "slack_days",
    "critical",
    "depends_on",
    "start_date",
    "finish_date",
)


def item_dates(item: ScheduledItem, start: date) -> tuple[date, date]:
    """The first and last calendar day the item occupies (inclusive): a 5-day task from day 0
    runs from ``start`` to ``start + 4``; a milestone (no duration) starts and ends on one day."""
    first = math.floor(item.start_day)
    last = max(first, math.ceil(item.finish_day) - 1)
    return start + timedelta(days=first), start + timedelta(days=last)


def schedule_csv(schedule: ScheduleOutput, start: date) -> str:
    """The CSV text (RFC 4180: comma-separated, CRLF line ends, a header row)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for item in schedule.items:
        first, last = item_dates(item, start)
        writer.writerow(
            (
                item.id,
                item.name,
                item.level,
                item.start_day,
                item.duration_days,
                item.finish_day,
                item.slack_days,
                "yes" if item.critical else "no",
                " ".join(item.depends_on),
                first.isoformat(),
                last.isoformat(),
            )
        )
    return out.getvalue()
