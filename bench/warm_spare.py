"""POST -> first task started, with and without a warm spare pipeline process (PLANEXE_WARM_SPARE).

    .venv/bin/python bench/warm_spare.py            # 7 plans on each service, interleaved
    .venv/bin/python bench/warm_spare.py --repeat 3

Two `planexe serve` processes on SQLite with the offline provider, one with the spare and
one without, take fast plans in turns (so load bursts hit both alike); each plan runs to the
end before the next is posted, so the spare has been replaced by then. Figures: the median
POST -> first task started, split into POST -> claimed -> run_started (the child's start)
-> first task, for each, and their ratio. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import Stopwatch, finish, header, median, table
from _http import start_service
from service import sqlite_url, through_service

KEYS = (
    "post_to_first_task_s",
    "post_to_claimed_s",
    "claimed_to_run_started_s",
    "run_started_to_first_task_s",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    figures: dict[str, Any] = header("warm_spare", repeat=args.repeat)
    clock = Stopwatch()
    runs: dict[str, list[dict[str, float]]] = {"fresh": [], "warm": []}
    with tempfile.TemporaryDirectory(prefix="planexe-bench-spare-") as tmp:
        root = Path(tmp)
        services = {
            name: start_service(root / name, sqlite_url(root / name), {"PLANEXE_WARM_SPARE": flag}, name=name)
            for name, flag in (("fresh", "false"), ("warm", "true"))
        }
        try:
            for name in services:  # one plan each first: imports cached by the OS, spare ready
                through_service(services[name], "fast")
            for _ in range(args.repeat):
                for name, svc in services.items():
                    runs[name].append(through_service(svc, "fast"))
        finally:
            for svc in services.values():
                svc.close()
    result = {name: {k: median([r[k] for r in rs]) for k in KEYS} for name, rs in runs.items()}
    ratio = result["warm"]["post_to_first_task_s"] / result["fresh"]["post_to_first_task_s"]
    print(
        table(
            [[k, result["fresh"][k], result["warm"][k]] for k in KEYS],
            ["median over plans (s)", "fresh child", "warm spare"],
        )
    )
    figures.update(result=result, runs=runs, warm_over_fresh=ratio, wall_s=clock.elapsed())
    summary = (
        f"POST -> first task: {result['fresh']['post_to_first_task_s']:.3f} s fresh, "
        f"{result['warm']['post_to_first_task_s']:.3f} s with a warm spare ({ratio:.2f}x)"
    )
    finish("warm_spare", figures, summary, {"fresh": result["fresh"], "warm": result["warm"], "ratio": ratio})
    return 0


if __name__ == "__main__":
    sys.exit(main())
