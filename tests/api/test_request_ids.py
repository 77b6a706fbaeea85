"""One id follows a request through the service's log, and a plan's id and run through its child's."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from planexe.testing.service import Service, service_env


@pytest.fixture
def service(tmp_path: Path) -> Service:
    env = service_env(f"sqlite:///{tmp_path / 'planexe.db'}", tmp_path, {"PLANEXE_LOG_FORMAT": "json"})
    started = Service(env, tmp_path).start()
    yield started
    started.close()


def _records(path: Path) -> list[dict]:
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def test_a_request_id_is_kept_or_made_and_every_line_of_the_request_carries_it(service: Service) -> None:
    created = service.http.post(
        "/plans", json={"prompt": "Open a bike repair shop"}, headers={"X-Request-ID": "trace-7.a"}
    )
    assert created.status_code == 202 and created.headers["x-request-id"] == "trace-7.a"
    refused = service.http.post("/plans", json={"prompt": ""}, headers={"X-Request-ID": "has space"})
    made = refused.headers["x-request-id"]
    assert refused.status_code == 422 and re.fullmatch(r"[0-9a-f]{32}", made)
    plan_id = created.json()["id"]
    service.wait_status(plan_id)
    records = _records(service.log_path)
    mine = [r for r in records if r.get("request_id") == "trace-7.a"]
    assert any(r["event"] == "http_request" and r["status"] == 202 for r in mine)
    assert any(r.get("request_id") == made and r.get("status") == 422 for r in records)
    # The plan's child logs into its run directory; each line names the plan and run.
    child = _records(Path(service.workdir) / "runs" / plan_id / "log.txt")
    structured = [r for r in child if "event" in r]
    assert structured and all(r.get("plan_id") == plan_id and r.get("run") == 1 for r in structured)
