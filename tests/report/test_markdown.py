"""The report as Markdown: the HTML report's parts in its order, each shape of data as text."""

from __future__ import annotations

import re

from planexe.report import ReportContent, render_markdown
from planexe.report.shapes import sequence_shape
from tests.report.test_report import GENERATED, gantt_bars, parse, report, sections


def markdown(**overrides: object) -> str:
    args: dict[str, object] = {
        "title": "Community solar microgrid",
        "prompt": "Build a 2 MW community solar farm.\n\nWith storage.",
        "sections": sections(),
        "gantt": gantt_bars(),
        "offline": False,
        "summary": "A pilot solar farm, financed by community shares, live within 18 months.",
    }
    args.update(overrides)
    return render_markdown(ReportContent(**args), generated_at=GENERATED)  # type: ignore[arg-type]


def test_the_parts_are_the_html_reports_in_the_same_order() -> None:
    text = markdown()
    headings = re.findall(r"^## (\d+)\. (.+)$", text, flags=re.M)
    doc = parse(report())
    toc = [e for e in doc.elements if e.tag == "a" and "nav" in e.ancestors]
    assert len(headings) == len(toc) == len(sections()) + 2
    assert [h for _, h in headings[:2]] == ["Executive summary", "Schedule (Gantt)"]
    assert [int(n) for n, _ in headings] == list(range(1, len(headings) + 1))
    assert text.startswith("# Community solar microgrid\n\n> **Original idea:** Build a 2 MW")
    assert "Generated 14 March 2025, 09:30 UTC" in text


def test_each_shape_of_data_has_its_markdown_form() -> None:
    text = markdown()
    # A list of flat records is a table.
    assert "| Question | Assumption | Cost eur | Risk level |" in text
    assert "| Timeline? | 18 months | — | medium |" in text
    # Substantial fields of a section are sub-headings, the rest key/value bullets.
    assert "### Detail" in text and "- **Confidence:** 0.92" in text and "- **Is public:** No" in text
    # Scalars are bullets; records too wide for a table are numbered cards under their name.
    assert "- Local support\n- Cheap land" in text
    assert re.search(r"^1\. \*\*Permits\*\*$", text, flags=re.M)
    # The Gantt's rows: phases in bold, critical tasks marked.
    assert "| **Phase 1** ✱ | 0 | 26 | — |" in text and "| Go-live ✱ | 160 | 0 | 5.4 |" in text
    assert "*Made by: gpt-4o-mini, llama3.1:8b*" in text and "*Offline template*" in text


def test_table_cells_stay_on_one_line_and_escape_pipes() -> None:
    rows = [{"a": "x | y", "b": "line one\nline two"}, {"a": "z", "b": 3}]
    assert sequence_shape(rows) == "table"
    text = markdown(sections=[sections()[0].__class__("t", "T", rows, False, ["m"])])
    assert "| x \\| y | line one line two |" in text


def test_an_offline_report_says_so_first() -> None:
    text = markdown(offline=True)
    assert text.splitlines()[2].startswith("> **Warning:** Made offline")
    assert "Offline template output: not a real plan." in text
