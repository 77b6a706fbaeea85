"""A stopping server ends its event streams first, so it can stop its plans in time.

uvicorn answers SIGTERM by waiting for open connections to close, up to its
graceful-shutdown timeout, before it runs the app's shutdown (where the runner
stops its children and puts their plans back in the queue). An event stream never
closes by itself: one open dashboard held every plan of a stopping replica for the
whole timeout, long past a platform's SIGKILL. ``DrainingServer`` sets the app's
``draining`` flag as the signal arrives; every stream sees it at its next look
(within ``SSE_POLL_S``), tells the client to reconnect with Last-Event-ID (another
replica, or this one restarted, carries on from there) and ends.
"""

from __future__ import annotations

import threading
from types import FrameType

import uvicorn
from fastapi import FastAPI


def draining_flag(app: FastAPI) -> threading.Event:
    """The app's flag (one per app; set from the signal handler's thread)."""
    flag: threading.Event | None = getattr(app.state, "draining", None)
    if flag is None:
        flag = app.state.draining = threading.Event()
    return flag


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, draining: threading.Event) -> None:
        super().__init__(config)
        self.draining = draining

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.draining.set()
        super().handle_exit(sig, frame)
