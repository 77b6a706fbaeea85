"""Keep optional integrations that libraries probe for at import time out of the pipeline process.

structlog imports rich (for pretty console tracebacks), httpx its command-line
tool's click, rich and pygments, tenacity (via Luigi) tornado, and Luigi
jsonschema, each only because it is installed. The pipeline process uses none
of them, and every task process Luigi forks carries what the parent imported:
keeping them out saves ~60 ms of start-up per plan and ~8 MB of RSS in each of
up to a dozen processes (see docs/performance.md).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

OPTIONAL_MODULES = ("rich", "pygments", "click", "tornado", "jsonschema")


@contextmanager
def without_optional_modules(names: tuple[str, ...] = OPTIONAL_MODULES) -> Iterator[None]:
    """Imports of ``names`` inside the block fail as if they were not installed (the libraries
    above all handle that); afterwards they import normally again."""
    blocked = [name for name in names if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]  # makes `import name` raise ImportError
    try:
        yield
    finally:
        for name in blocked:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
