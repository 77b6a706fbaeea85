"""Peak memory of process trees, sampled with psutil in a background thread.

RSS counts a page shared by ten forked children ten times; PSS divides each
shared page among the processes that map it, so the PSS sum is what the tree
really costs the machine. Reading PSS (``memory_full_info``) walks each
process's page map, so it is sampled less often than RSS.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psutil

MB = 1024 * 1024


def tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


@dataclass
class Peak:
    rss_mb: float = 0.0
    pss_mb: float = 0.0
    processes: int = 0

    def figures(self) -> dict[str, Any]:
        return {"peak_rss_mb": self.rss_mb, "peak_pss_mb": self.pss_mb, "peak_processes": self.processes}


@dataclass
class TreeSampler:
    """Samples named groups of processes; each group is a function returning its processes."""

    groups: dict[str, Callable[[], Sequence[psutil.Process]]]
    interval_s: float = 0.05
    pss: bool = False
    peaks: dict[str, Peak] = field(default_factory=dict)
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> TreeSampler:
        self.peaks = {name: Peak() for name in self.groups}
        self._thread = threading.Thread(target=self._loop, name="tree-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval_s)

    def sample(self) -> None:
        for name, members in self.groups.items():
            rss = pss = 0
            alive = 0
            for proc in members():
                try:
                    if self.pss:
                        info = proc.memory_full_info()
                        pss += info.pss
                    else:
                        info = proc.memory_info()
                    rss += info.rss
                    alive += 1
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    continue
            peak = self.peaks[name]
            peak.rss_mb = max(peak.rss_mb, rss / MB)
            peak.pss_mb = max(peak.pss_mb, pss / MB)
            peak.processes = max(peak.processes, alive)
        self.samples += 1
