"""Plans, lists and events as text for a terminal: one fact per line, nothing the API did not say."""

from __future__ import annotations

from collections import Counter
from typing import Any

PROMPT_CHARS = 48  # of a prompt in the list


def _when(value: str | None) -> str:
    return value.replace("T", " ")[:19] if value else "—"


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def progress(plan: dict[str, Any]) -> str:
    p = plan.get("progress") or {}
    return f"{p.get('done', 0)}/{p.get('total', 0)}" if p.get("total") else "—"


def plan_list(page: dict[str, Any]) -> str:
    rows = [("ID", "STATUS", "PRI", "TASKS", "CREATED (UTC)", "PROMPT")]
    for plan in page.get("items", []):
        rows.append(
            (
                plan["id"],
                plan["status"] + (" (cancelling)" if plan.get("cancel_requested") else ""),
                str(plan.get("priority", 0)),
                progress(plan),
                _when(plan.get("created_at")),
                _short(plan.get("prompt", ""), PROMPT_CHARS),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1] for r in rows]
    counts = page.get("counts") or {}
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no plans")
    return "\n".join(lines)


def plan_detail(plan: dict[str, Any]) -> str:
    usage = plan.get("llm_usage") or {}
    tokens = int(usage.get("prompt_tokens") or 0) + int(usage.get("completion_tokens") or 0)
    cost = usage.get("cost_usd")
    lines = [
        f"plan      {plan['id']}",
        f"status    {plan['status']}" + (" (cancel requested)" if plan.get("cancel_requested") else ""),
        f"prompt    {_short(plan.get('prompt', ''), 200)}",
        f"detail    {plan.get('detail')}   priority {plan.get('priority', 0)}   attempt {plan.get('attempt', 0)}",
        f"tasks     {progress(plan)} done"
        + (f", running: {', '.join(plan['progress']['running_tasks'])}" if plan.get("progress", {}).get("running_tasks") else ""),
        f"llm       {usage.get('calls', 0)} calls, {tokens:,} tokens" + (f", {cost:.4f} USD" if cost is not None else ""),
        f"created   {_when(plan.get('created_at'))}   started {_when(plan.get('started_at'))}   "
        f"finished {_when(plan.get('finished_at'))}",
    ]  # fmt: skip
    eta = plan.get("eta")
    if eta and eta.get("remaining_s") is not None:
        lines.append(f"eta       about {eta['remaining_s']:.0f} s more ({eta.get('basis', '')})")
    error = plan.get("error")
    if error:
        task = f" in {error['failed_task']}" if error.get("failed_task") else ""
        lines.append(f"error     {error.get('code')}{task}: {error.get('message')}")
    return "\n".join(lines)


class EventLines:
    """Events as progress lines: tasks as they finish (with their LLM calls), plan-level changes."""

    def __init__(self) -> None:
        self.done = 0
        self.total = 0
        self.calls: Counter[str] = Counter()  # LLM calls per task since it started

    def line(self, kind: str, data: dict[str, Any]) -> str | None:
        task = str(data.get("task") or "")
        if kind == "run_started":
            self.done, self.total = int(data.get("done") or 0), int(data.get("total") or 0)
            return f"run {data.get('attempt')} started: {self.done}/{self.total} tasks already done"
        if kind == "llm_call":
            self.calls[task] += 1
            return None
        if kind == "task_succeeded":
            self.done += 1
            calls = self.calls.pop(task, 0)
            spent = f"{float(data.get('duration_s') or 0):.1f} s" + (
                f", {calls} LLM call{'s' * (calls != 1)}" if calls else ""
            )
            width = len(str(self.total or self.done))
            return f"[{self.done:>{width}}/{self.total or '?'}] {task} ({spent})"
        if kind in ("task_failed", "task_timed_out", "task_retried"):
            detail = data.get("error") or data.get("reason") or ""
            return f"{kind.replace('_', ' ')}: {task}" + (f": {_short(str(detail), 300)}" if detail else "")
        if kind == "run_finished":
            return f"run {data.get('attempt')} finished: {data.get('reason') or data.get('status')}"
        if kind == "end":
            return f"end: {data.get('status')}"
        if kind.startswith("plan_"):
            facts = {
                k: v
                for k, v in data.items()
                if k in ("status", "error_code", "error", "reason", "outcome", "worker_id", "tasks")
            }
            told = ", ".join(
                f"{k}={_short(str(v), 120)}" for k, v in facts.items() if v not in (None, "", [])
            )
            return kind.removeprefix("plan_").replace("_", " ") + (f" ({told})" if told else "")
        return None
