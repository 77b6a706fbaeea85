"""A sliding window of amounts (requests, tokens) started in the last ``length_s`` seconds."""

from __future__ import annotations

from collections import deque


class Entry:
    __slots__ = ("amount", "at", "counted")

    def __init__(self, at: float, amount: int) -> None:
        self.at = at
        self.amount = amount
        self.counted = True  # False once it has left the window


class SlidingWindow:
    def __init__(self, length_s: float) -> None:
        self.length_s = length_s
        self._entries: deque[Entry] = deque()
        self._total = 0

    def _expire(self, now: float) -> None:
        edge = now - self.length_s
        while self._entries and self._entries[0].at <= edge:
            gone = self._entries.popleft()
            gone.counted = False
            self._total -= gone.amount

    def total(self, now: float) -> int:
        self._expire(now)
        return self._total

    def add(self, now: float, amount: int) -> Entry:
        entry = Entry(now, amount)
        self._entries.append(entry)
        self._total += amount
        return entry

    def adjust(self, entry: Entry, amount: int) -> None:
        """Replace an entry's amount (an estimate by the actual figure), if it is still counted."""
        if entry.counted:
            self._total += amount - entry.amount
        entry.amount = amount

    def room_at(self, now: float, amount: int, limit: int) -> float:
        """When ``amount`` more fits under ``limit``: ``now`` if it fits already.

        An amount larger than the whole limit fits once the window is empty, or it could never go.
        """
        self._expire(now)
        excess = self._total + amount - limit
        if excess <= 0:
            return now
        freed = 0
        for entry in self._entries:
            freed += entry.amount
            if freed >= excess:
                return entry.at + self.length_s
        return (self._entries[-1].at + self.length_s) if self._entries else now
