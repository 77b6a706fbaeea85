"""Every live pipeline child, keyed by plan id and run (the plan's fencing token).

Thread- and task-safe (a plain lock: entries are touched from the event loop
and from worker threads). The supervisor registers a child as soon as it has a
pid and unregisters it in a ``finally``, so the registry's size is the number
of children alive, which /healthz and /metrics report. The run is part of the
key: a runner that was frozen past its lease can claim the same plan again
while its previous child is still stopping, and the two entries must neither
collide nor remove each other.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ChildInfo:
    plan_id: str
    run: int  # the plan's fencing token for this run
    pid: int
    pgid: int
    attempt: int
    started_at: float = field(default_factory=time.time)

    @property
    def key(self) -> tuple[str, int]:
        return (self.plan_id, self.run)


class ProcessRegistry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._children: dict[tuple[str, int], ChildInfo] = {}

    def register(self, info: ChildInfo) -> None:
        with self._lock:
            if info.key in self._children:
                # A programming error: runs are unique per claim, so a key is never reused.
                raise RuntimeError(f"run {info.run} of plan {info.plan_id} is already registered")
            self._children[info.key] = info

    def unregister(self, plan_id: str, run: int) -> ChildInfo | None:
        with self._lock:
            return self._children.pop((plan_id, run), None)

    def children(self) -> list[ChildInfo]:
        with self._lock:
            return list(self._children.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._children)
