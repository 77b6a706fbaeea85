"""The adaptive limit on calls in flight to one provider key.

Multiplicative decrease on a refusal, additive increase on successes (AIMD, as
TCP does), with two additions so that refusals become rare instead of periodic:

- slow start: with no configured limit the first calls go 8 at a time, and each
  success adds one more until the first refusal (doubling per round of calls), so a
  strict provider sees a few refused calls at the start, not a whole batch;
- a remembered edge: the level at which the provider last refused. The limit grows
  freely only up to just below it; a probe one step past it waits for
  ``probe_every`` successes, a number that doubles each time the probe is refused
  and halves each time one holds for that many calls. A provider that refuses above
  2 in flight is probed after 8, 16, 32, ... successes: a handful of refusals per
  run, not one in four calls.

Only one refusal per *epoch* lowers the limit: every permit carries the epoch it
was granted in, and the refusals of calls already in flight when the limit
dropped say nothing new.
"""

from __future__ import annotations

BACKOFF = 0.5  # the limit is multiplied by this on a refusal
SLOW_START = 8  # calls in flight at first when no limit is configured
FIRST_PROBE = 8  # successes at the known-good top before trying one more in flight
MAX_PROBE = 4096


class AdaptiveConcurrency:
    def __init__(self, ceiling: int, *, configured: bool = True) -> None:
        self.ceiling = max(1, ceiling)  # never above this: the configured limit, or a large default
        # A configured limit is the provider's word: start there. Otherwise start small.
        self.limit = float(self.ceiling if configured else min(self.ceiling, SLOW_START))
        self.epoch = 0
        self.edge: int | None = None  # the lowest level refused since a probe last held above it
        self.probe_every = FIRST_PROBE
        self._count = 0  # successes at the top (before a probe) or at the probe (before it holds)

    @property
    def allowed(self) -> int:
        return max(1, int(self.limit))

    def set_ceiling(self, ceiling: int) -> None:
        self.ceiling = max(1, ceiling)
        self.limit = min(self.limit, float(self.ceiling))

    def on_refused(self, level: int, epoch: int) -> bool:
        """A call granted at ``level`` in flight (itself included) was refused; True if the limit dropped."""
        if epoch != self.epoch:
            return False
        self.epoch += 1
        self._count = 0
        if level <= 1:
            # A lone call refused says nothing about calls in flight (a storm, a per-minute
            # limit): the cool-down handles it, and the edge stays where calls in flight put it.
            self.limit = 1.0
            return True
        if self.edge is not None and self.limit >= self.edge - 1:
            self.probe_every = min(MAX_PROBE, self.probe_every * 2)  # refused at the edge again
        self.edge = level if self.edge is None else min(level, self.edge)
        self.limit = max(1.0, min(self.limit, float(level)) * BACKOFF)
        self._count = 0
        return True

    def on_success(self, level: int) -> None:
        """A call granted at ``level`` in flight was answered."""
        if self.limit >= self.ceiling:
            return
        if self.edge is None:
            self.limit = min(float(self.ceiling), self.limit + 1.0)  # slow start
            return
        top = min(self.ceiling, self.edge - 1)
        if self.limit < top:
            self.limit = min(float(top), self.limit + 1.0 / max(1.0, self.limit))  # ~ +1 per round
            return
        if level < top:
            return  # only calls at the top say anything about it
        self._count += 1
        if self._count < self.probe_every:
            return
        self._count = 0
        if self.limit < self.edge:
            self.limit = float(self.edge)  # the probe: one more than the known-good top
        else:
            # The probe held for probe_every calls: the edge moves up, the next probe comes sooner.
            self.edge = int(self.limit) + 1
            self.probe_every = max(FIRST_PROBE, self.probe_every // 2)
