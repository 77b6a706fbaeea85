"""The schedule as an inline SVG Gantt chart (no scripts, no external assets).

Geometry is in viewBox units, which equal CSS pixels when the chart is shown at
its natural width; the SVG scales to its container, so it also fits on paper.
Colours come from the report stylesheet through classes, so dark mode and print
work without touching the SVG.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from html import escape

from planexe.report.blocks import format_number

WIDTH = 1000.0  # viewBox width
LABEL_W = 290.0  # left column holding task labels
RIGHT_PAD = 28.0
AXIS_H = 34.0  # header band with tick labels
ROW_H = 24.0
BAR_H = {1: 8.0, 2: 13.0, 3: 10.0}  # phases are drawn as slim summary bars
INDENT = 14.0  # per WBS level
CHAR_W = {1: 7.4, 2: 6.6, 3: 6.3}  # average glyph width, used to truncate labels
MIN_TICK_GAP = 56.0  # viewBox units between tick labels
MILESTONE = 9.0  # side of the diamond drawn for zero-length bars
GANTT_IDS = ("gantt-title", "gantt-arrow", "gantt-arrow-crit")  # element ids the chart uses

Scale = Callable[[float], float]  # day → x coordinate

# (step in days, unit in days, unit suffix) from finest to coarsest.
_STEPS = [
    (1, 1, "d"),
    (2, 1, "d"),
    (7, 7, "w"),
    (14, 7, "w"),
    (28, 7, "w"),
    (30.4375, 30.4375, "mo"),
    (60.875, 30.4375, "mo"),
    (91.3125, 30.4375, "mo"),
    (182.625, 30.4375, "mo"),
    (365.25, 365.25, "y"),
    (730.5, 365.25, "y"),
]


@dataclass
class GanttBar:
    id: str
    label: str
    start_day: float  # days from project start
    duration_days: float
    level: int  # WBS level 1..3 (for indentation/weight)
    depends_on: list[str]  # ids of bars this one waits for
    critical: bool  # on the critical path


def _finite(value: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) and number > 0 else 0.0


def _level(bar: GanttBar) -> int:
    return min(3, max(1, int(bar.level))) if isinstance(bar.level, int | float) else 2


def _truncate(text: str, level: int) -> str:
    room = LABEL_W - 12 - (level - 1) * INDENT - 10
    limit = max(4, int(room / CHAR_W[level]))
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _ticks(span: float, chart_w: float) -> list[tuple[float, str]]:
    max_ticks = max(1, int(chart_w / MIN_TICK_GAP))
    step, unit, suffix = next((s for s in _STEPS if span / s[0] <= max_ticks), _STEPS[-1])
    if span / step > max_ticks:
        step *= math.ceil(span / step / max_ticks)
    ticks: list[tuple[float, str]] = [(0.0, "Start")]
    n = 1
    while n * step < span - 1e-9:
        ticks.append((n * step, f"{format_number(round(n * step / unit, 1))}{suffix}"))
        n += 1
    return ticks


def render_gantt(bars: list[GanttBar]) -> str:
    """The chart and its legend, or a short note when there is no schedule."""
    if not bars:
        return (
            '<p class="note">No schedule was produced for this plan, so there is no Gantt chart. '
            "The work breakdown and task durations, if present, appear in their own sections.</p>"
        )
    starts = [_finite(b.start_day) for b in bars]
    durations = [_finite(b.duration_days) for b in bars]
    span = max(s + d for s, d in zip(starts, durations, strict=True)) or 1.0  # all milestones at day 0
    chart_w = WIDTH - LABEL_W - RIGHT_PAD
    height = AXIS_H + ROW_H * len(bars) + 8

    def x(day: float) -> float:
        return LABEL_W + day / span * chart_w

    rows_y = [AXIS_H + i * ROW_H for i in range(len(bars))]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH:g} {height:g}" '
        f'role="img" aria-labelledby="gantt-title">',
        f'<title id="gantt-title">Gantt chart: {len(bars)} tasks over {format_number(round(span, 1))} days'
        "</title>",
        '<defs><marker id="gantt-arrow" viewBox="0 0 6 6" refX="5.5" refY="3" markerWidth="6" '
        'markerHeight="6" orient="auto"><path class="arrowhead" d="M0,0 L6,3 L0,6 z"/></marker>'
        '<marker id="gantt-arrow-crit" viewBox="0 0 6 6" refX="5.5" refY="3" markerWidth="6" '
        'markerHeight="6" orient="auto"><path class="arrowhead critical" d="M0,0 L6,3 L0,6 z"/></marker>'
        "</defs>",
    ]
    parts += [
        f'<rect class="stripe" x="0" y="{y:g}" width="{WIDTH:g}" height="{ROW_H:g}"/>'
        for i, y in enumerate(rows_y)
        if i % 2
    ]
    parts.append(f'<text class="axis-caption" x="8" y="{AXIS_H - 12:g}">TASK</text>')
    grid_bottom = height - 8
    for day, label in _ticks(span, chart_w):
        gx = x(day)
        if x(span) - gx < MIN_TICK_GAP * 0.7 and day > 0:
            continue
        parts.append(
            f'<line class="grid" x1="{gx:.1f}" y1="{AXIS_H - 6:g}" x2="{gx:.1f}" y2="{grid_bottom:g}"/>'
        )
        parts.append(f'<text class="tick" x="{gx + 3:.1f}" y="{AXIS_H - 12:g}">{escape(label)}</text>')
    end = x(span)
    parts.append(
        f'<line class="grid finish" x1="{end:.1f}" y1="{AXIS_H - 6:g}" x2="{end:.1f}" y2="{grid_bottom:g}"/>'
        f'<text class="tick" x="{end:.1f}" y="{AXIS_H - 12:g}" text-anchor="end">'
        f"day {format_number(round(span, 1))}</text>"
    )
    parts += _dependencies(bars, starts, durations, rows_y, x)
    for bar, start, duration, y in zip(bars, starts, durations, rows_y, strict=True):
        parts.append(_task(bar, start, duration, y, x))
    parts.append("</svg>")
    days = format_number(round(span, 1))
    weeks = f" (about {format_number(round(span / 7, 1))} weeks)" if span >= 14 else ""
    finish_note = (
        f"Total span {days} day{'' if days == '1' else 's'}{weeks}. Hover a task for its full name and dates."
    )
    legend = (
        '<div class="legend"><span><i class="sw-l1"></i>Phase</span><span><i class="sw-task"></i>Task</span>'
        '<span><i class="sw-crit"></i>Critical path</span><span><i class="sw-ms"></i>Milestone</span>'
        f"<span>{escape(finish_note)}</span></div>"
    )
    return f'<figure class="gantt">{"".join(parts)}{legend}</figure>'


def _task(bar: GanttBar, start: float, duration: float, y: float, x: Scale) -> str:
    level = _level(bar)
    label = str(bar.label)
    classes = f"bar l{level}" + (" critical" if bar.critical else "")
    end_day = start + duration
    tooltip = (
        f"{label} — day {format_number(round(start, 1))} to {format_number(round(end_day, 1))} "
        f"({format_number(round(duration, 1))} days){', critical path' if bar.critical else ''}"
    )
    mid = y + ROW_H / 2
    if duration > 0:
        h = BAR_H[level]
        width = max(2.0, x(end_day) - x(start))
        shape = (
            f'<rect class="{classes}" data-id="{escape(str(bar.id))}" x="{x(start):.1f}" '
            f'y="{mid - h / 2:.1f}" width="{width:.1f}" height="{h:g}" rx="2"/>'
        )
    else:
        cx = x(start)
        shape = (
            f'<rect class="{classes} milestone" data-id="{escape(str(bar.id))}" x="{cx - MILESTONE / 2:.1f}" '
            f'y="{mid - MILESTONE / 2:.1f}" width="{MILESTONE:g}" height="{MILESTONE:g}" '
            f'transform="rotate(45 {cx:.1f} {mid:.1f})"/>'
        )
    text_x = 8 + (level - 1) * INDENT
    return (
        f'<g class="task"><title>{escape(tooltip)}</title>'
        f'<text class="label l{level}" x="{text_x:g}" y="{mid + 4:.1f}">{escape(_truncate(label, level))}</text>'
        f"{shape}</g>"
    )


def _dependencies(
    bars: list[GanttBar], starts: list[float], durations: list[float], rows_y: list[float], x: Scale
) -> list[str]:
    index = {str(b.id): i for i, b in enumerate(bars)}
    paths = []
    for j, bar in enumerate(bars):
        for dep in dict.fromkeys(str(d) for d in bar.depends_on or []):
            i = index.get(dep)
            if i is None or i == j:
                continue
            x0, y0 = x(starts[i] + durations[i]), rows_y[i] + ROW_H / 2
            x1, y1 = x(starts[j]), rows_y[j] + ROW_H / 2
            if x1 >= x0 + 8:
                d = f"M{x0:.1f},{y0:.1f} H{x0 + 4:.1f} V{y1:.1f} H{x1 - 1:.1f}"
            else:
                # The successor starts before (or right at) the predecessor's end: route
                # round the bars through the gap between the two rows.
                gap_y = y1 - ROW_H / 2 if y1 > y0 else y1 + ROW_H / 2
                d = f"M{x0:.1f},{y0:.1f} h4 V{gap_y:.1f} H{x1 - 6:.1f} V{y1:.1f} H{x1 - 1:.1f}"
            critical = bar.critical and bars[i].critical
            marker = "gantt-arrow-crit" if critical else "gantt-arrow"
            cls = "dep critical" if critical else "dep"
            paths.append(f'<path class="{cls}" d="{d}" marker-end="url(#{marker})"/>')
    return paths
