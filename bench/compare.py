"""Compare two result files figure by figure.

    .venv/bin/python bench/compare.py bench/results/pipeline-A.json bench/results/pipeline-latest.json

Prints every number found at the same place in both files, with the ratio
new/old; ``--only KEY`` keeps the lines whose path contains KEY.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def leaves(value: Any, path: str = "") -> Iterator[tuple[str, float]]:
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        yield path, float(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from leaves(item, f"{path}[{i}]")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("old", type=Path)
    p.add_argument("new", type=Path)
    p.add_argument("--only", default="", help="keep figures whose path contains this")
    args = p.parse_args(argv)
    old = dict(leaves(json.loads(args.old.read_text())))
    new = dict(leaves(json.loads(args.new.read_text())))
    width = max((len(k) for k in new), default=10)
    print(f"{'figure'.ljust(width)}  {'old':>12}  {'new':>12}  new/old")
    for key, value in new.items():
        if key in old and args.only in key and not key.startswith(("machine.", "options.")):
            ratio = f"{value / old[key]:.3f}" if old[key] else "-"
            print(f"{key.ljust(width)}  {old[key]:12.3f}  {value:12.3f}  {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
