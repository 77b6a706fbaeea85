"""Every live pipeline child, keyed by plan id.

Thread- and task-safe (a plain lock: entries are touched from the event loop
and from worker threads). The supervisor registers a child as soon as it has a
pid and unregisters it in a ``finally``, so the registry's size is the number
of children alive, which /healthz and /metrics report.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ChildInfo:
    plan_id: str
    pid: int
    pgid: int
    attempt: int
    started_at: float = field(default_factory=time.time)


class ProcessRegistry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._children: dict[str, ChildInfo] = {}

    def register(self, info: ChildInfo) -> None:
        with self._lock:
            if info.plan_id in self._children:
                raise RuntimeError(
                    f"plan {info.plan_id} already has a child (pid {self._children[info.plan_id].pid})"
                )
            self._children[info.plan_id] = info

    def unregister(self, plan_id: str) -> ChildInfo | None:
        with self._lock:
            return self._children.pop(plan_id, None)

    def get(self, plan_id: str) -> ChildInfo | None:
        with self._lock:
            return self._children.get(plan_id)

    def __len__(self) -> int:
        with self._lock:
            return len(self._children)

    def __contains__(self, plan_id: object) -> bool:
        with self._lock:
            return plan_id in self._children
