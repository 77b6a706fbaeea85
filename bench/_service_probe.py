"""``python bench/_service_probe.py --port N``: ``planexe serve`` with candidate fixes patched in.

Used by ``bench/service.py --probes`` to measure a proposed change to the
GET path before anyone makes it. ``PLANEXE_BENCH_PROBE`` lists the patches:

* ``thread``: small reads (``Store.read_small``) hop to a worker thread on
  SQLite too, as they do on PostgreSQL, to show what running them on the
  event loop saves;
* ``syncnormal``: SQLite ``PRAGMA synchronous = NORMAL`` (the WAL-mode setting
  SQLite recommends: no fsync per commit, still never corrupt; the last
  commits can be lost on power failure, not on a process crash).

With no patches this is exactly what ``planexe serve`` runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import uvicorn

from planexe.log import configure_logging
from planexe.settings import get_settings
from planexe_api.app import create_app
from planexe_api.services.store import Store

KNOWN = {"thread", "syncnormal"}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    patches = set(filter(None, os.environ.get("PLANEXE_BENCH_PROBE", "").split(",")))
    if patches - KNOWN:
        raise SystemExit(f"unknown probe patches: {sorted(patches - KNOWN)}")
    if "thread" in patches:
        open_store = Store.open

        def open_threaded(url: str) -> Store:
            store = open_store(url)
            store.loop_factory = None
            return store

        Store.open = open_threaded  # type: ignore[method-assign]
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
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_config=None, access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
