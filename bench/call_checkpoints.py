"""What call checkpoints cost: writing one (atomic, fsynced) and looking one up.

    .venv/bin/python bench/call_checkpoints.py            # 300 of each
    .venv/bin/python bench/call_checkpoints.py --quick    # 50

Each accepted LLM answer is written to ``calls/<task>/<key>.json`` in a worker
thread before its call returns, and each call looks its key up first
(``planexe/pipeline/calls.py``). The answer written here is the size of a real
``wbs_level3`` answer (four tasks with estimates). Printed: the median and p90
of a write and of a lookup (hit and miss) in the run directory's file system,
and what that adds to one plan: a write per call on its critical path.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import Stopwatch, finish, header, table

from planexe.pipeline.calls import CallBook, Checkpoint
from planexe.plan.dag import critical_path, planned_calls

ANSWER = {
    "tasks": [
        {
            "name": "Submit the change-of-use application",
            "description": "Prepare the drawings and the form, file them with the municipality and answer its questions.",
            "owner_role": "Project manager",
            "parallel_with_previous": False,
            "duration_days": 21.0,
            "confidence": "medium",
            "basis": "municipal processing times",
        }
    ]
    * 4
}


def timed(fn, count: int) -> list[float]:  # type: ignore[no-untyped-def]
    samples = []
    for i in range(count):
        started = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--count", type=int, default=300)
    args = parser.parse_args()
    count = 50 if args.quick else args.count
    clock = Stopwatch()
    machine = header("call_checkpoints", count=count)
    book = CallBook(Path(tempfile.mkdtemp(prefix="planexe-bench-calls-")))

    def write(i: int) -> None:
        book.save(Checkpoint(f"{i:064x}", "wbs_level3", f"wbs_level3:{i}", 0, "test-model", ANSWER))

    writes = timed(write, count)
    hits = timed(lambda i: book.load("wbs_level3", f"{i:064x}"), count)
    misses = timed(lambda i: book.load("wbs_level3", f"{i + count:064x}"), count)
    rows = []
    figures: dict[str, object] = {"machine": machine, "count": count}
    for name, samples in (("write", writes), ("lookup, hit", hits), ("lookup, miss", misses)):
        ordered = sorted(samples)
        median, p90 = statistics.median(ordered), ordered[int(0.9 * (len(ordered) - 1))]
        rows.append((name, median, p90))
        figures[name.replace(", ", "_")] = {"median_ms": median, "p90_ms": p90}
    print(table(rows, ["operation", "median ms", "p90 ms"]))
    rounds, _ = critical_path("full")
    calls = planned_calls("full")
    # Calls of one round run side by side: the round waits for one lookup and one write.
    per_plan = rounds * (statistics.median(writes) + statistics.median(hits))
    print(
        f"   a full plan: {calls} calls, each looked up and written; {rounds} rounds on the critical path, "
        f"so about {per_plan:.0f} ms added to its wall time"
    )
    figures["plan_added_ms"] = per_plan
    figures["runtime_s"] = clock.elapsed()
    finish(
        "call_checkpoints",
        figures,
        f"checkpoint write {statistics.median(writes):.2f} ms, lookup {statistics.median(hits):.3f} ms (median)",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
