"""The final plan report: section outputs and the schedule rendered as one self-contained HTML file."""

from planexe.report.gantt import GanttBar
from planexe.report.render import Section, render_report

__all__ = ["GanttBar", "Section", "render_report"]
