"""The HTML report: structure, self-containment, escaping, generic blocks and the Gantt chart."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest

from planexe.report import GanttBar, ReportContent, Section, render_report
from planexe.report.blocks import format_number, humanise, render_block
from planexe.report.gantt import render_gantt

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
HOSTILE = '<script>alert("x")</script>'
GENERATED = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    ancestors: tuple[str, ...]

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())


class Doc(HTMLParser):
    """Parses a document and insists every non-void element is closed in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append(Element(tag, {k: v or "" for k, v in attrs}, tuple(self.stack)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append(Element(tag, {k: v or "" for k, v in attrs}, tuple(self.stack)))

    def handle_endtag(self, tag: str) -> None:
        assert tag not in VOID, f"end tag for void element <{tag}>"
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-3:]}"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def find(self, tag: str, cls: str | None = None) -> list[Element]:
        return [e for e in self.elements if e.tag == tag and (cls is None or cls in e.classes)]

    @property
    def ids(self) -> list[str]:
        return [e.attrs["id"] for e in self.elements if "id" in e.attrs]


def parse(html: str) -> Doc:
    doc = Doc()
    doc.feed(html)
    doc.close()
    assert doc.stack == [], f"unclosed elements: {doc.stack}"
    return doc


def gantt_bars() -> list[GanttBar]:
    """30 bars: 5 phases of 4 tasks with level-3 work under most first tasks, and a go-live milestone."""
    bars: list[GanttBar] = []
    day = 0.0
    previous = ""
    for p in range(1, 6):
        phase_start = day
        children: list[GanttBar] = []
        for t in range(1, 5):
            critical = t != 3  # task 3 runs in parallel with float
            duration = 3.0 + 2 * t + p
            tid = f"{p}.{t}"
            children.append(
                GanttBar(
                    tid,
                    f"Task {tid}: {'long descriptive name ' * (t == 2) * 3}work",
                    day,
                    duration,
                    2,
                    [previous] if previous else [],
                    critical,
                )
            )
            if critical:
                previous = tid
                day += duration
        children.insert(1, GanttBar(f"{p}.1.1", f"Sub-task {p}.1.1", phase_start, 2.0, 3, [], False))
        end = max(b.start_day + b.duration_days for b in children)
        bars.append(GanttBar(f"{p}", f"Phase {p}", phase_start, end - phase_start, 1, [], True))
        bars.extend(children)
    bars = [b for b in bars if b.id != "5.1.1"]
    bars.append(GanttBar("m", "Go-live", day, 0.0, 2, [previous], True))
    return bars


def sections() -> list[Section]:
    long_text = (
        "The town council has approved a pilot site on the old landfill. "
        "Grid interconnection needs a study by the distribution operator, which can take months.\n\n"
        "Key points:\n- Land lease for 25 years\n- Community shares sold locally\n- Battery sized for 4 hours\n\n"
        "Source: https://example.org/study?id=7 (accessed 2025)."
    )
    return [
        Section(
            "identify_purpose",
            "Purpose",
            {"purpose": "business", "confidence": 0.92, "is_public": False, "detail": long_text},
            False,
            ["gpt-4o-mini"],
        ),
        Section(
            "make_assumptions",
            "Assumptions",
            [
                {"question": "Budget?", "assumption": "EUR 2.4M", "cost_eur": 2_400_000},
                {"question": "Timeline?", "assumption": "18 months", "risk_level": "medium"},
                {"question": HOSTILE, "assumption": "javascript:alert(1)", "cost_eur": 12_500.5},
            ],
            False,
            ["gpt-4o-mini", "llama3.1:8b"],
        ),
        Section(
            "swot",
            "SWOT analysis",
            {
                "strengths": ["Local support", "Cheap land"],
                "weaknesses": ["No grid study yet"],
                "scenarios": [["best", "base"], ["worst", {"note": "see risks"}]],
                "recommendation": long_text,
            },
            False,
            ["gpt-4o-mini"],
        ),
        Section(
            "create_wbs",
            "Work breakdown structure",
            {
                "project_title": "Community solar",
                "phases": [
                    {"name": "Permits", "tasks": [{"name": "Grid study", "subtasks": ["Apply", "Wait"]}]},
                    {
                        "name": "Build",
                        "tasks": [{"name": "Install", "deep": {"a": {"b": {"c": {"d": [1]}}}}}],
                    },
                ],
            },
            True,
            [],
        ),
        Section("critical_path", "Critical path", {"length_days": 120, "tasks": 24}, False, []),
        Section(
            'x"><script>bad()</script>',
            f"Review {HOSTILE}",
            {"<img src=x onerror=alert(1)>": HOSTILE},
            False,
            [f"model{HOSTILE}"],
        ),
    ]


def report(**overrides: object) -> str:
    args: dict[str, object] = {
        "title": "Community solar microgrid",
        "prompt": "Build a 2 MW community solar farm with storage in a rural town. </blockquote>" + HOSTILE,
        "sections": sections(),
        "gantt": gantt_bars(),
        "offline": False,
        "generated_at": GENERATED,
        "summary": "A pilot solar farm, financed by community shares, live within 18 months.",
    }
    args.update(overrides)
    generated_at = args.pop("generated_at")
    return render_report(ReportContent(**args), generated_at=generated_at)  # type: ignore[arg-type]


class TestDocument:
    def test_parses_with_balanced_tags(self) -> None:
        html = report()
        assert html.startswith("<!DOCTYPE html>")
        doc = parse(html)
        assert [e.tag for e in doc.elements[:2]] == ["html", "head"]
        assert doc.find("meta")[0].attrs == {"charset": "utf-8"}

    def test_contents_links_resolve_and_ids_are_unique(self) -> None:
        doc = parse(report())
        links = [e.attrs["href"] for e in doc.find("a") if "nav" in e.ancestors]
        assert len(links) == len(sections()) + 2  # plus summary and schedule
        assert len(doc.ids) == len(set(doc.ids))
        assert {href.removeprefix("#") for href in links} <= set(doc.ids)

    def test_every_section_title_present_in_order(self) -> None:
        text = "".join(parse(report()).text)
        titles = ["Executive summary", "Schedule (Gantt)", *(s.title for s in sections())]
        positions = [text.rindex(t) for t in titles]
        assert positions == sorted(positions)

    def test_summary_is_optional(self) -> None:
        assert "Executive summary" not in report(summary=None)
        assert "Schedule (Gantt)" in report(summary=None)

    def test_no_remote_resources(self) -> None:
        html = report()
        doc = parse(html)
        assert not [
            e for e in doc.elements if "src" in e.attrs or e.tag in {"script", "link", "iframe", "img"}
        ]
        for e in doc.elements:
            href = e.attrs.get("href", "")
            if href and not href.startswith("#"):
                assert e.tag == "a" and "section" in e.ancestors, e
                assert href == "https://example.org/study?id=7"
        assert all(ref.startswith("#") for ref in re.findall(r"url\(([^)]*)\)", html))
        assert "@import" not in html and "@font-face" not in html
        csp = next(e for e in doc.find("meta") if e.attrs.get("http-equiv") == "Content-Security-Policy")
        assert "default-src 'none'" in csp.attrs["content"]


class TestOffline:
    @pytest.mark.parametrize("offline", [True, False])
    def test_banner_iff_offline(self, offline: bool) -> None:
        html = report(offline=offline)
        assert ("deterministic template generator" in html) is offline
        assert bool(parse(html).find("div", "banner")) is offline

    def test_section_badges(self) -> None:
        html = report()
        badges = re.findall(r'<span class="badge[^"]*"[^>]*>([^<]*)</span>', html)
        assert badges.count("offline template") == 1  # the WBS section
        assert badges.count("computed") == 1  # the code-only critical path
        assert {
            "gpt-4o-mini",
            "llama3.1:8b",
            "model&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;",
        } <= set(badges)


class TestEscaping:
    def test_hostile_strings_never_become_markup(self) -> None:
        html = report()
        doc = parse(html)
        assert "<script" not in html
        assert not [e for e in doc.elements if any(k.startswith("on") for k in e.attrs)]
        assert not [e for e in doc.elements if "javascript:" in e.attrs.get("href", "")]
        assert "javascript:alert(1)" in "".join(doc.text)  # shown as text, not dropped
        assert HOSTILE in "".join(doc.text)

    def test_hostile_section_key_becomes_safe_anchor(self) -> None:
        ids = parse(report()).ids
        assert all(re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", i) for i in ids)

    def test_colliding_section_keys_get_distinct_anchors(self) -> None:
        clash = [Section(k, k, {"a": 1}, False, []) for k in ("gantt-arrow", "contents", "swot", "swot", "9")]
        doc = parse(report(sections=clash))
        assert len(doc.ids) == len(set(doc.ids))
        links = {e.attrs["href"].removeprefix("#") for e in doc.find("a") if "nav" in e.ancestors}
        assert len(links) == len(clash) + 2 and links <= set(doc.ids)

    def test_only_http_urls_are_linked(self) -> None:
        doc = parse(
            render_block("see https://a.example/x, ftp://b.example and javascript:alert(1) or data:x")
        )
        assert [e.attrs["href"] for e in doc.find("a")] == ["https://a.example/x"]


class TestBlocks:
    def test_humanise(self) -> None:
        assert humanise("start_date") == "Start date"
        assert humanise("kpiTargets") == "KPI targets"
        assert humanise("wbs_id") == "WBS ID"

    @pytest.mark.parametrize(
        ("value", "text"),
        [(2025, "2025"), (2_400_000, "2,400,000"), (0.925, "0.93"), (3.0, "3"), (12500.5, "12,500.5")],
    )
    def test_numbers(self, value: float, text: str) -> None:
        assert format_number(value) == text

    def test_booleans_read_yes_no(self) -> None:
        assert render_block(True) == "Yes" and render_block(False) == "No"

    def test_list_of_flat_dicts_is_a_table_with_union_columns(self) -> None:
        doc = parse(render_block([{"b": 1, "a": "x"}, {"c": True, "a": "y"}]))
        headers = [e for e in doc.elements if e.tag == "th"]
        assert len(headers) == 3 and len(doc.find("tr")) == 3
        assert "".join(doc.text).startswith("BAC")

    def test_list_of_scalars_is_a_bullet_list(self) -> None:
        assert len(parse(render_block(["a", "b", 3])).find("li")) == 3

    def test_deep_nesting_collapses(self) -> None:
        deep: object = "bottom"
        for _ in range(15):
            deep = {"level": deep}
        html = render_block(deep)
        assert "<details>" in html and "<pre>" in html
        parse(html)

    def test_long_text_becomes_paragraphs_and_bullets(self) -> None:
        doc = parse(render_block("First paragraph.\n\n- one\n- two\n\nLast " + "word " * 50))
        assert len(doc.find("p")) == 2 and len(doc.find("li")) == 2


class TestGantt:
    def test_one_bar_per_task_with_critical_marked(self) -> None:
        bars = gantt_bars()
        doc = parse(report(gantt=bars))
        rects = doc.find("rect", "bar")
        assert len(rects) == len(bars) == 30
        critical = {e.attrs["data-id"] for e in rects if "critical" in e.classes}
        assert critical == {b.id for b in bars if b.critical}
        assert doc.find("path", "dep")

    def test_truncated_labels_keep_full_text_in_tooltip(self) -> None:
        long_label = "Negotiate the interconnection agreement with the distribution system operator"
        doc = parse(render_gantt([GanttBar("a", long_label, 0, 5, 3, [], False)]))
        shown = next(t for t in doc.text if t.endswith("…"))
        tooltip = next(t for t in doc.text if t.startswith(long_label))
        assert shown.endswith("…") and long_label.startswith(shown[:-1])
        assert tooltip.startswith(f"{long_label} — day 0 to 5")

    def test_height_grows_with_rows(self) -> None:
        def height(n: int) -> float:
            svg = parse(render_gantt([GanttBar(str(i), f"t{i}", i, 3, 2, [], False) for i in range(n)])).find(
                "svg"
            )
            return float(svg[0].attrs["viewbox"].split()[3])

        assert height(1) < height(30) < height(200)

    def test_empty_gantt_is_a_note(self) -> None:
        doc = parse(report(gantt=[]))
        assert not doc.find("svg")
        assert "No schedule was produced" in "".join(doc.text)
