"""Bad input gets a clear 4xx and changes nothing; tokens; idempotency; queue limit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from planexe.pipeline.rundir import MAX_PROMPT_CHARS
from planexe.testing.service import Service, service_env


@pytest.fixture
def idle_service(db_url: str, tmp_path: Path) -> Iterator[Service]:
    """A service that runs no plans, so queued plans stay queued."""
    service = Service(
        service_env(db_url, tmp_path, {"PLANEXE_RUNNER": "false", "PLANEXE_MAX_QUEUED_PLANS": "3"}), tmp_path
    )
    service.start()
    yield service
    service.close()


@pytest.mark.parametrize(
    ("body", "status", "code", "fragment"),
    [
        ({"prompt": ""}, 422, "invalid_request", "prompt: Value error, must not be empty"),
        ({"prompt": "   \n\t "}, 422, "invalid_request", "must not be empty"),
        ({"prompt": "x" * (MAX_PROMPT_CHARS + 1)}, 422, "invalid_request", f"at most {MAX_PROMPT_CHARS}"),
        ({"prompt": "ok", "colour": "red"}, 422, "invalid_request", "colour: unknown field; remove it"),
        (
            {"prompt": "ok", "detail": "huge"},
            422,
            "invalid_request",
            "detail: Input should be 'full' or 'fast'",
        ),
        ({"prompt": 42}, 422, "invalid_request", "prompt: Input should be a valid string"),
        ({}, 422, "invalid_request", "prompt: required"),
        (
            {"prompt": "ok", "llm_model": "gpt-9"},
            400,
            "unknown_model",
            "unknown model 'gpt-9'; known models: offline",
        ),
    ],
)
def test_invalid_plan_requests(
    idle_service: Service, body: dict, status: int, code: str, fragment: str
) -> None:
    response = idle_service.http.post("/plans", json=body)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert fragment in response.json()["message"]
    assert idle_service.http.get("/plans").json()["items"] == []


def test_not_json_and_unknown_routes(idle_service: Service) -> None:
    response = idle_service.http.post(
        "/plans", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422 and response.json()["code"] == "invalid_request"
    missing = idle_service.http.get("/plans/doesnotexist")
    assert missing.status_code == 404 and missing.json()["code"] == "plan_not_found"
    assert idle_service.http.get("/plans?status=lost").status_code == 422
    assert idle_service.http.get("/plans?cursor=garbage").json()["code"] == "invalid_cursor"


def test_file_names_cannot_leave_the_plan(idle_service: Service) -> None:
    plan_id = idle_service.submit()["id"]
    for name in ["..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "a%5C..%5Cb", "%2E%2E", "x%00y"]:
        response = idle_service.http.get(f"/plans/{plan_id}/files/{name}")
        assert response.status_code in (400, 404), (name, response.status_code)
        assert "root:" not in response.text
    absent = idle_service.http.get(f"/plans/{plan_id}/files/report.html")
    assert absent.status_code == 404 and absent.json()["code"] == "file_not_found"
    not_ready = idle_service.http.get(f"/plans/{plan_id}/report")
    assert not_ready.status_code == 409 and not_ready.json()["code"] == "report_not_ready"
    assert "the plan is queued" in not_ready.json()["message"]


def test_idempotency_key_returns_the_same_plan(idle_service: Service) -> None:
    headers = {"Idempotency-Key": "order-17"}
    first = idle_service.http.post("/plans", json={"prompt": "Build a bridge"}, headers=headers)
    again = idle_service.http.post("/plans", json={"prompt": "Build a bridge"}, headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    clash = idle_service.http.post("/plans", json={"prompt": "Build a tunnel"}, headers=headers)
    assert clash.status_code == 409 and clash.json()["code"] == "idempotency_key_reused"
    assert len(idle_service.http.get("/plans").json()["items"]) == 1


def test_full_queue_answers_429_with_retry_after(idle_service: Service) -> None:
    for i in range(3):
        idle_service.submit(prompt=f"plan {i}")
    response = idle_service.http.post("/plans", json={"prompt": "one too many"})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "30"
    assert response.json()["code"] == "queue_full"
    listed = idle_service.http.get("/plans", params={"status": "queued", "limit": 2}).json()
    assert len(listed["items"]) == 2 and listed["next_cursor"]
    older = idle_service.http.get(
        "/plans", params={"status": "queued", "cursor": listed["next_cursor"]}
    ).json()
    assert [p["prompt"] for p in listed["items"] + older["items"]] == ["plan 2", "plan 1", "plan 0"]


def test_cancel_queued_and_resume_rules(idle_service: Service) -> None:
    plan_id = idle_service.submit()["id"]
    assert idle_service.http.post(f"/plans/{plan_id}/resume").json()["status"] == "queued"
    cancelled = idle_service.http.post(f"/plans/{plan_id}/cancel").json()
    assert cancelled["status"] == "cancelled"
    assert idle_service.http.post(f"/plans/{plan_id}/cancel").json()["status"] == "cancelled"
    assert idle_service.http.post(f"/plans/{plan_id}/resume").json()["status"] == "queued"
    assert idle_service.http.post("/plans/nope/cancel").status_code == 404


def test_bearer_token(db_url: str, tmp_path: Path) -> None:
    token = "s3cret-token-value"
    service = Service(
        service_env(db_url, tmp_path, {"PLANEXE_API_TOKEN": token, "PLANEXE_RUNNER": "false"}), tmp_path
    )
    service.start()
    try:
        assert service.http.get("/healthz").status_code == 200
        assert service.http.get("/readyz").status_code == 200
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {token}"}):
            response = service.http.get("/plans", headers=headers)
            assert response.status_code == 401 and response.json()["code"] == "unauthorized"
            assert token not in response.text
        assert service.http.post("/plans", json={"prompt": "x"}).status_code == 401
        assert service.http.get("/plans", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert service.http.get("/metrics").status_code == 401
    finally:
        service.close()
    assert token not in service.log_path.read_text()
