"""Prometheus metrics of one service process.

Plans by status and queue depth are read from the database at scrape time
(they are shared by every replica); the rest are this process's own counters,
fed by the events its runner ships.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_TASK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)
_LLM_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.plans_by_status = Gauge(
            "planexe_plans", "Plans by status (whole database)", ["status"], registry=r
        )
        self.queue_depth = Gauge("planexe_queue_depth", "Plans waiting to be claimed", registry=r)
        self.running_children = Gauge(
            "planexe_running_children", "Pipeline children of this process", registry=r
        )
        self.plans_submitted = Counter(
            "planexe_plans_submitted", "Plans accepted by this process", registry=r
        )
        self.task_duration = Histogram(
            "planexe_task_duration_seconds",
            "Pipeline task durations",
            ["outcome"],
            buckets=_TASK_BUCKETS,
            registry=r,
        )
        self.llm_duration = Histogram(
            "planexe_llm_call_duration_seconds",
            "LLM attempt durations",
            ["model"],
            buckets=_LLM_BUCKETS,
            registry=r,
        )
        self.llm_errors = Counter("planexe_llm_errors", "Failed LLM attempts by kind", ["kind"], registry=r)
        self.llm_tokens = Counter(
            "planexe_llm_tokens",
            "LLM tokens by model id and kind (prompt, completion)",
            ["model", "kind"],
            registry=r,
        )
        self.llm_cost = Counter(
            "planexe_llm_cost_usd", "LLM cost in USD by model id (priced models)", ["model"], registry=r
        )
        self.llm_repairs = Counter(
            "planexe_llm_repairs",
            "Answers accepted after removing a fence, think block or prose",
            ["kind"],
            registry=r,
        )
        self.sse_events = Counter("planexe_sse_events_sent", "Events sent over SSE", registry=r)
        self.plans_refused = Counter(
            "planexe_plans_refused",
            "Runs the safety gate ended with a refusal, by kind of harm",
            ["category"],
            registry=r,
        )

    def observe_event(self, event: dict[str, Any]) -> None:
        kind = event.get("kind")
        if kind in ("task_succeeded", "task_failed") and event.get("duration_s") is not None:
            outcome = "succeeded" if kind == "task_succeeded" else "failed"
            self.task_duration.labels(outcome).observe(float(event["duration_s"]))
        elif kind == "llm_call" and not event.get("cached"):  # a reused answer was no call
            model = str(event.get("model", "?"))
            self.llm_duration.labels(model).observe(float(event.get("duration_s") or 0))
            if event.get("outcome") != "ok":
                self.llm_errors.labels(str(event.get("outcome"))).inc()
            for part in ("prompt", "completion"):
                self.llm_tokens.labels(model, part).inc(max(0, int(event.get(f"{part}_tokens") or 0)))
            if event.get("cost_usd") is not None:
                self.llm_cost.labels(model).inc(max(0.0, float(event["cost_usd"])))
            for repair in event.get("repairs") or []:
                self.llm_repairs.labels(str(repair)).inc()
        elif kind == "run_finished" and event.get("status") == "refused":
            refusal = event.get("refusal") or {}
            self.plans_refused.labels(str(refusal.get("category") or "unknown")).inc()
