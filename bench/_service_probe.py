"""``python bench/_service_probe.py --port N``: ``planexe serve`` with candidate fixes patched in.

Used by ``bench/service.py --probes`` to measure a proposed change to the
GET path before anyone makes it. ``PLANEXE_BENCH_PROBE`` lists the patches:

* ``nomw``: without the ``@app.middleware("http")`` bearer-token check
  (a Starlette ``BaseHTTPMiddleware``, which wraps every request in an extra
  task group and memory streams even when no token is configured);
* ``inline``: read-only store calls run on the event loop instead of hopping
  to a worker thread (fine for SQLite's sub-millisecond reads; for PostgreSQL
  the fix would be an async driver);
* ``syncnormal``: SQLite ``PRAGMA synchronous = NORMAL`` (the WAL-mode setting
  SQLite recommends: no fsync per commit, still never corrupt; the last
  commits can be lost on power failure, not on a process crash).

With no patches this is exactly what ``planexe serve`` runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

import uvicorn

from planexe.log import configure_logging
from planexe.settings import get_settings
from planexe_api.app import create_app
from planexe_api.services.store import Store

KNOWN = {"nomw", "inline", "syncnormal"}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    patches = set(filter(None, os.environ.get("PLANEXE_BENCH_PROBE", "").split(",")))
    if patches - KNOWN:
        raise SystemExit(f"unknown probe patches: {sorted(patches - KNOWN)}")
    if "inline" in patches:
        threaded = Store.run

        async def run(self: Store, fn: Callable[[Any], Any], *, write: bool = False) -> Any:
            return await threaded(self, fn, write=True) if write else self.run_sync(fn)

        Store.run = run  # type: ignore[method-assign]
    if "syncnormal" in patches:
        from planexe_api.db import engine

        on_connect = engine._sqlite_on_connect

        def sqlite_on_connect(dbapi_connection: Any, record: Any) -> None:
            on_connect(dbapi_connection, record)
            dbapi_connection.execute("PRAGMA synchronous = NORMAL")

        engine._sqlite_on_connect = sqlite_on_connect
    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    app = create_app(settings)
    if "nomw" in patches and not settings.api_token:
        app.user_middleware = [m for m in app.user_middleware if "BaseHTTPMiddleware" not in repr(m.cls)]
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_config=None, access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
