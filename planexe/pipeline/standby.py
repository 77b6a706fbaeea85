"""A pipeline process started ahead of its plan: imports done, waiting for its command line.

Most of a child's start (~0.4 s of the 0.47 s from POST to the first task,
docs/performance.md) is Python starting and importing Luigi, pydantic, httpx
and every plan step. The runner keeps one such process ready (``--standby``):
it has imported everything and warmed what every run warms, and blocks on its
stdin. When a plan is launched, the supervisor writes one JSON line to it,
``{"argv": [...], "log": PATH}`` (the arguments it would have started a fresh
child with, and the run's log file), and the process becomes that child: same
contract, same process group, same keep-alive on the same stdin afterwards.

The line is read one byte at a time so that nothing after it (the keep-alive
bytes) is consumed by a buffer. A standby process dies with its runner like any
child (``--parent-pid``); one whose stdin closes before an order exits quietly.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from planexe.pipeline.graph import Dag

STANDBY_FLAG = "--standby"
MAX_ORDER_BYTES = 1 << 20  # a command line is a few hundred bytes; anything past this is not one


def order_line(argv: list[str], log_path: str) -> bytes:
    """What the supervisor writes to a standby process to make it run ``argv``."""
    return json.dumps({"argv": argv, "log": log_path}).encode() + b"\n"


def wait_for_order(fd: int = 0) -> tuple[list[str], str] | None:
    """Block until the supervisor's order arrives; None if it went away first."""
    line = bytearray()
    while not line.endswith(b"\n"):
        byte = os.read(fd, 1)
        if not byte or len(line) > MAX_ORDER_BYTES:
            return None
        line += byte
    order: dict[str, Any] = json.loads(line)
    return [str(a) for a in order["argv"]], str(order["log"])


def adopt_log(path: str) -> None:
    """From now on stdout and stderr append to the run's log, as a fresh child's would."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
    finally:
        os.close(fd)


def warm(dag: Dag) -> None:
    """Import and build now what the run would otherwise pay for after its order."""
    from planexe.pipeline import runner  # Luigi, the LLM layer, the run context
    from planexe.pipeline.graph import task_order

    runner.warm_up([cls(run_dir="/nonexistent", attempt=1) for cls in task_order(dag.root_class)])
