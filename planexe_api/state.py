"""What the routes share: built once in the lifespan, read through ``request.app.state``."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from planexe.llm.config import LLMConfig
from planexe.settings import Settings
from planexe_api.metrics import Metrics
from planexe_api.services.plan_signals import PlanSignals
from planexe_api.services.plan_trace import TraceCache
from planexe_api.services.process_registry import ProcessRegistry
from planexe_api.services.runner import Runner
from planexe_api.services.store import Store


@dataclass
class AppState:
    settings: Settings
    store: Store
    llm_config: LLMConfig
    registry: ProcessRegistry
    metrics: Metrics
    runner: Runner | None
    schema_revision: str
    signals: PlanSignals  # wakes event streams when this process commits a plan's events
    traces: TraceCache = field(default_factory=TraceCache)  # plans' folded event logs (task states, ETA)


async def get_state(request: Request) -> AppState:
    # async: FastAPI runs a plain ``def`` dependency in a worker thread, a hop on every request.
    return request.app.state.planexe
