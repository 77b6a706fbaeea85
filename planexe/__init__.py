"""PlanExe: turn a one-paragraph project idea into a complete project plan."""

__version__ = "0.1.0"
