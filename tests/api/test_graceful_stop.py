"""SIGTERM to a service with an open event stream: the stream ends at once, the plan is requeued.

uvicorn waits for open connections before the app's shutdown runs; an event stream
never closes by itself, so without draining the runner stopped its plans only after
uvicorn's graceful timeout (cancel grace + 20 s), past a platform's SIGKILL.
"""

from __future__ import annotations

import signal
import sqlite3
import threading
from pathlib import Path

import httpx

from planexe.testing.llm_server import llm_server
from planexe.testing.service import Service, service_env


def test_sigterm_ends_open_streams_first_and_the_plan_goes_back_to_the_queue(tmp_path: Path) -> None:
    with llm_server(latency="fixed:0.5") as llm:
        env = service_env(
            f"sqlite:///{tmp_path / 'planexe.db'}",
            tmp_path,
            {"PLANEXE_LLM_BASE_URL": llm.base_url, "PLANEXE_LLM_MODEL": "test-model"},
        )
        service = Service(env, tmp_path).start()
        try:
            plan_id = service.submit()["id"]
            service.wait_progress(plan_id, done=2)
            received: list[str] = []
            streaming = threading.Event()

            def follow() -> None:
                with httpx.stream("GET", f"{service.base_url}/plans/{plan_id}/events", timeout=120) as answer:
                    for text in answer.iter_text():
                        received.append(text)
                        streaming.set()

            reader = threading.Thread(target=follow, daemon=True)
            reader.start()
            assert streaming.wait(30)
            # uvicorn re-raises the signal once it has shut down: the exit is by SIGTERM, after a clean stop.
            assert service.stop(timeout=60) in (0, -signal.SIGTERM)
            reader.join(timeout=30)
        finally:
            service.close()
    body = "".join(received)
    assert body.rstrip().endswith(": the server is stopping; reconnect with Last-Event-ID")
    with sqlite3.connect(tmp_path / "planexe.db") as db:
        (status,) = db.execute("SELECT status FROM plans WHERE id = ?", (plan_id,)).fetchone()
    assert status == "queued"  # stopped by the shutdown, not failed: the next start resumes it
