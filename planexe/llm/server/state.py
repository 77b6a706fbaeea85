"""The server's mutable state: options, the seeded RNG and the counters.

Everything runs on one event loop, so the counters need no lock. Every chat request
lands in exactly one bucket, so ``requests`` equals ``completions_ok`` plus the
``errors_injected`` values plus the ``rejected_*``, ``bad_requests`` and
``client_disconnects`` counters. Quirks reshape answers that count as ``completions_ok``.

The per-minute limits count admitted requests only (a refused one costs nothing),
each with its prompt tokens at admission and its answer tokens once answered, in a
sliding window of ``limit_window_s``; ``max_requests_per_window`` and
``max_tokens_per_window`` are the most the window ever held, which is what a test
of a client's own limits asserts on.
"""

from __future__ import annotations

import random
import time
from collections import deque
from dataclasses import asdict, dataclass, field

from planexe.llm.server.faults import Fault, draw_fault
from planexe.llm.server.options import ServerOptions
from planexe.llm.server.quirks import Quirk, draw_quirk


@dataclass
class Stats:
    requests: int = 0  # every POST /v1/chat/completions
    completions_ok: int = 0  # answered 200 with content the schema accepts
    in_flight: int = 0  # accepted and not yet answered
    max_in_flight: int = 0  # highest in_flight seen
    rejected_concurrency: int = 0  # 429 because max_concurrency requests were in flight
    rejected_rpm: int = 0  # 429 because requests_per_minute were admitted in the window
    rejected_tpm: int = 0  # 429 because the window's tokens reached tokens_per_minute
    max_requests_per_window: int = 0  # most requests admitted in one window of limit_window_s
    max_tokens_per_window: int = 0  # most tokens counted in one window of limit_window_s
    rejected_auth: int = 0  # 401: missing or wrong API key
    rejected_schema: int = 0  # 400: reject_json_schema is on
    bad_requests: int = 0  # 400: body unreadable, or no answer fits the schema
    client_disconnects: int = 0  # client left while a normal answer was delayed
    errors_injected: dict[str, int] = field(default_factory=lambda: {f.value: 0 for f in Fault})
    quirks_injected: dict[str, int] = field(default_factory=lambda: {q.value: 0 for q in Quirk})
    rejected_strict: int = 0  # 400: strict_schemas is on and the schema breaks strict mode's rules
    rejected_context: int = 0  # 400: the prompt is longer than context_tokens
    strict_requests: int = 0  # json_schema requests with strict: true
    with_max_tokens: int = 0  # requests that sent max_tokens or max_completion_tokens
    cut_at_max_tokens: int = 0  # answers cut at the request's max_tokens (finish_reason length)
    by_model: dict[str, int] = field(default_factory=dict)
    # Answers to the safety gate's schema by decision (stand_in.py): a test sees which way it went.
    gate_answers: dict[str, int] = field(default_factory=lambda: {"plan": 0, "refuse": 0})
    tokens: dict[str, int] = field(default_factory=lambda: {"prompt": 0, "completion": 0, "total": 0})


class Admitted:
    __slots__ = ("at", "tokens")

    def __init__(self, at: float, tokens: int) -> None:
        self.at = at
        self.tokens = tokens


class ServerState:
    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        self.rng = random.Random(options.seed)
        self.stats = Stats()
        self._window: deque[Admitted] = deque()
        self._window_tokens = 0
        self.recorded: deque[dict[str, object]] = deque(maxlen=options.record_requests or None)

    def _expire(self, now: float) -> None:
        edge = now - self.options.limit_window_s
        while self._window and self._window[0].at <= edge:
            self._window_tokens -= self._window.popleft().tokens

    def check_rate(self, prompt_tokens: int) -> float | None:
        """Admit one request against the per-minute limits: its Retry-After if refused, else None.

        Admitted, it is counted at once with its prompt tokens; ``count_tokens`` adds its answer.
        """
        opts = self.options
        now = time.monotonic()
        self._expire(now)
        rpm, tpm = opts.requests_per_minute, opts.tokens_per_minute
        if rpm is not None and len(self._window) >= rpm:
            self.stats.rejected_rpm += 1
            return self._window[len(self._window) - rpm].at + opts.limit_window_s - now
        if tpm is not None and self._window_tokens >= tpm:
            self.stats.rejected_tpm += 1
            excess, freed = self._window_tokens - tpm + 1, 0
            for entry in self._window:
                freed += entry.tokens
                if freed >= excess:
                    return entry.at + opts.limit_window_s - now
        return None

    def admit(self, prompt_tokens: int) -> Admitted:
        entry = Admitted(time.monotonic(), prompt_tokens)
        self._window.append(entry)
        self._window_tokens += prompt_tokens
        self._peaks()
        return entry

    def add_answer_tokens(self, entry: Admitted, tokens: int) -> None:
        if self._window and entry.at >= self._window[0].at:
            self._window_tokens += tokens
        entry.tokens += tokens
        self._peaks()

    def _peaks(self) -> None:
        self.stats.max_requests_per_window = max(self.stats.max_requests_per_window, len(self._window))
        self.stats.max_tokens_per_window = max(self.stats.max_tokens_per_window, self._window_tokens)

    def configure(self, options: ServerOptions, reseed: bool) -> None:
        self.options = options
        if reseed:
            self.rng = random.Random(options.seed)
        if options.record_requests != self.recorded.maxlen:
            self.recorded = deque(self.recorded, maxlen=options.record_requests or None)

    def record(self, model: str, schema_name: str, messages: list[object]) -> None:
        """Keep one chat request for GET /requests, when recording is on."""
        if self.options.record_requests:
            self.recorded.append({"model": model, "schema_name": schema_name, "messages": messages})

    def reset_stats(self) -> None:
        # Requests still running stay counted in in_flight, or it would go negative; the
        # window keeps what it holds (the limits still apply to it).
        self.stats = Stats(in_flight=self.stats.in_flight, max_in_flight=self.stats.in_flight)
        self.recorded.clear()
        self._expire(time.monotonic())
        self._peaks()

    def snapshot(self) -> dict[str, object]:
        self._expire(time.monotonic())
        # What the window holds now (not a counter: a reset leaves it as it is).
        return {
            **asdict(self.stats),
            "window_requests": len(self._window),
            "window_tokens": self._window_tokens,
        }

    def try_enter(self) -> bool:
        """Admit one request unless ``max_concurrency`` are already in flight."""
        limit = self.options.max_concurrency
        if limit is not None and self.stats.in_flight >= limit:
            self.stats.rejected_concurrency += 1
            return False
        self.stats.in_flight += 1
        self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)
        return True

    def leave(self) -> None:
        self.stats.in_flight -= 1

    def draw(self) -> tuple[Fault | None, float]:
        """This request's fault (or None) and latency in seconds, both from the seeded RNG."""
        fault = draw_fault(self.options, self.rng)
        delay = self.options.latency_spec.sample(self.rng, self.options.scale)
        if fault is not None:
            self.stats.errors_injected[fault.value] += 1
        return fault, delay

    def draw_quirk(self) -> Quirk | None:
        """This answer's quirk (or None), from the seeded RNG."""
        quirk = draw_quirk(self.options, self.rng)
        if quirk is not None:
            self.stats.quirks_injected[quirk.value] += 1
        return quirk

    def count_tokens(self, prompt: int, completion: int) -> None:
        self.stats.tokens["prompt"] += prompt
        self.stats.tokens["completion"] += completion
        self.stats.tokens["total"] += prompt + completion
