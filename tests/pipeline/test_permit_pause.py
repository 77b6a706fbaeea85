"""A step's worker timeout does not count the time its calls waited for permits."""

from __future__ import annotations

import multiprocessing
from types import SimpleNamespace

from planexe.pipeline.luigi_worker import PauseClock, _PausableTaskProcess


def test_a_forked_steps_deadline_moves_out_by_the_waits_its_process_reports() -> None:
    clock = PauseClock(shared=True)
    process = object.__new__(_PausableTaskProcess)
    process.task = SimpleNamespace(_planexe_pause=clock)
    process.timeout_time = 100.0
    # The step runs in a forked process: what it adds must reach the worker's process.
    child = multiprocessing.get_context("fork").Process(target=clock.add, args=(7.5,))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    assert process.timeout_time == 107.5
    process.timeout_time = None  # a step without a timeout stays without one
    assert process.timeout_time is None


def test_a_threads_clock_counts_in_its_own_process() -> None:
    clock = PauseClock(shared=False)
    clock.add(1.25)
    clock.add(0.5)
    assert clock.seconds == 1.75
