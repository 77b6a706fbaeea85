"""The final plan report: section outputs and the schedule, as one self-contained HTML file or Markdown."""

from planexe.report.content import ReportContent, Section
from planexe.report.gantt import GanttBar
from planexe.report.markdown import render_markdown
from planexe.report.render import render_report

__all__ = ["GanttBar", "ReportContent", "Section", "render_markdown", "render_report"]
