"""What a browser may do with no token set: DNS rebinding, cross-site state changes, CORS, headers.

Each request here is what a browser would send in that situation (the Host of a
rebound name, the Origin and Sec-Fetch-Site of a page elsewhere), sent to a real
``planexe serve`` over loopback. tests/web/test_cross_site.py does the same from
a real Chromium.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from planexe.errors import ConfigError
from planexe.settings import get_settings
from planexe.testing.service import Service, service_env
from planexe_api import apidocs
from planexe_api.security import DASHBOARD_CSP, DOCUMENT_CSP, host_name

FRONT_END = "http://localhost:3000"  # an origin given in PLANEXE_CORS_ORIGINS


@pytest.fixture(scope="module")
def start(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Service]]:
    started: list[Service] = []

    def factory(name: str, **extra: str) -> Service:
        workdir = tmp_path_factory.mktemp(name)
        env = service_env(f"sqlite:///{workdir / 'planexe.db'}", workdir, extra)
        service = Service(env, workdir, name=name).start()
        started.append(service)
        return service

    yield factory
    for service in started:
        service.close()


@pytest.fixture(scope="module")
def idle(start: Callable[..., Service]) -> Service:
    """The defaults, no runner: plans stay queued, so a cancel that got through shows."""
    return start("idle", PLANEXE_RUNNER="false")


@pytest.fixture(scope="module")
def configured(start: Callable[..., Service]) -> Service:
    return start(
        "configured",
        PLANEXE_RUNNER="false",
        PLANEXE_ALLOWED_HOSTS="planexe.example.com,*.corp.example",
        PLANEXE_CORS_ORIGINS=FRONT_END,
    )


def _get(svc: Service, path: str, host: str) -> httpx.Response:
    return svc.http.get(path, headers={"Host": host})


def test_a_rebound_host_name_is_refused(idle: Service) -> None:
    plan_id = idle.submit()["id"]
    for host in ("evil.example", f"evil.example:{idle.port}", "127.0.0.1.nip.io", "localhost.evil.example"):
        refused = _get(idle, f"/plans/{plan_id}", host)
        assert refused.status_code == 400, host
        assert refused.json()["code"] == "invalid_host"
        assert "PLANEXE_ALLOWED_HOSTS" in refused.json()["message"]
    # Nothing can be submitted through the rebound name either, nor reach /mcp or the pages.
    assert idle.http.post("/plans", json={"prompt": "x"}, headers={"Host": "evil.example"}).status_code == 400
    assert idle.http.post("/mcp", json={}, headers={"Host": "evil.example"}).status_code == 400
    assert _get(idle, "/", "evil.example").status_code == 400
    assert len(idle.http.get("/plans").json()["items"]) == 1
    # Load balancers probe with names of their own.
    assert _get(idle, "/healthz", "evil.example").status_code == 200
    assert _get(idle, "/readyz", "10.1.2.3:8000").status_code == 200


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "LOCALHOST.",
        "app.localhost:9",
        "127.0.0.1",
        "127.0.0.2:80",
        "[::1]:8000",
        "[::ffff:127.0.0.1]",
        "0.0.0.0:8000",
    ],
)
def test_this_machine_s_names_are_answered(idle: Service, host: str) -> None:
    assert _get(idle, "/plans", host).status_code == 200


def test_allowed_hosts_adds_names(configured: Service, idle: Service) -> None:
    for host in ("planexe.example.com", "PLANEXE.EXAMPLE.COM:443", "a.b.corp.example", "localhost:1"):
        assert _get(configured, "/plans", host).status_code == 200, host
    for host in ("example.com", "corp.example", "evil.planexe.example.com"):
        assert _get(configured, "/plans", host).status_code == 400, host
    assert _get(idle, "/plans", "planexe.example.com").status_code == 400


def test_a_page_on_another_site_cannot_cancel_a_plan(idle: Service) -> None:
    plan_id = idle.submit()["id"]
    # A no-cors fetch from another site (current browsers, then older ones without Sec-Fetch-*),
    # a page on another port of this host, and a sandboxed page (Origin: null).
    for headers in (
        {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"},
        {"Origin": "http://evil.example"},
        {"Origin": f"http://127.0.0.1:{idle.port + 1}", "Sec-Fetch-Site": "same-site"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
    ):
        refused = idle.http.post(f"/plans/{plan_id}/cancel", headers=headers)
        assert refused.status_code == 403, headers
        assert refused.json()["code"] == "cross_site_request"
        assert "PLANEXE_CORS_ORIGINS" in refused.json()["message"]
    created = idle.http.post("/plans", json={"prompt": "x"}, headers={"Sec-Fetch-Site": "cross-site"})
    assert created.status_code == 403
    assert idle.plan(plan_id)["status"] == "queued"
    # Reading is not a state change (and without CORS the page cannot read the answer).
    assert idle.http.get(f"/plans/{plan_id}", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 200


def test_the_dashboard_and_api_clients_still_change_plans(idle: Service) -> None:
    own = f"http://127.0.0.1:{idle.port}"
    same_origin = {"Origin": own, "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"}
    first, second, third = (idle.submit()["id"] for _ in range(3))
    assert idle.http.post(f"/plans/{first}/cancel", headers=same_origin).status_code == 200
    # A browser that sends no Sec-Fetch-Site, with its own origin; and curl, which sends neither.
    assert idle.http.post(f"/plans/{second}/cancel", headers={"Origin": own}).status_code == 200
    assert idle.http.post(f"/plans/{third}/cancel").status_code == 200
    form = idle.http.post(
        "/plans",
        json={"prompt": "Open a bakery"},
        headers={**same_origin, "Host": f"localhost:{idle.port}", "Origin": f"http://localhost:{idle.port}"},
    )
    assert form.status_code == 202


def test_cors_is_off_by_default(idle: Service) -> None:
    preflight = idle.http.options(
        "/plans",
        headers={"Origin": FRONT_END, "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    answer = idle.http.get("/plans", headers={"Origin": FRONT_END})
    assert "access-control-allow-origin" not in answer.headers


def test_an_allowed_origin_gets_preflight_and_may_post(configured: Service) -> None:
    preflight = configured.http.options(
        "/plans",
        headers={
            "Origin": FRONT_END,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, idempotency-key, authorization",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == FRONT_END
    assert "POST" in preflight.headers["access-control-allow-methods"]
    allowed_headers = preflight.headers["access-control-allow-headers"].lower()
    assert {"content-type", "idempotency-key", "authorization"} <= set(
        allowed_headers.replace(" ", "").split(",")
    )
    cross = {"Origin": FRONT_END, "Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "cors"}
    created = configured.http.post("/plans", json={"prompt": "Open a bakery"}, headers=cross)
    assert created.status_code == 202
    assert created.headers["access-control-allow-origin"] == FRONT_END
    assert "location" in created.headers["access-control-expose-headers"].lower()
    cancelled = configured.http.post(f"/plans/{created.json()['id']}/cancel", headers=cross)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    # Any other origin is still refused, and gets no CORS answer.
    other = {"Origin": "http://localhost:4000", "Sec-Fetch-Site": "same-site"}
    refused = configured.http.post("/plans", json={"prompt": "x"}, headers=other)
    assert refused.status_code == 403 and "access-control-allow-origin" not in refused.headers
    bad_preflight = configured.http.options(
        "/plans", headers={"Origin": "http://localhost:4000", "Access-Control-Request-Method": "POST"}
    )
    assert bad_preflight.status_code == 400


def test_html_answers_carry_a_policy_and_refuse_framing(start: Callable[..., Service]) -> None:
    svc = start("headers")  # the runner on, offline: a completed plan has a report
    plan_id = svc.submit(detail="fast")["id"]
    assert svc.wait_status(plan_id)["status"] == "completed"
    for path, policy, framing in (
        ("/", DASHBOARD_CSP, "DENY"),
        (f"/plans/{plan_id}/view", DASHBOARD_CSP, "DENY"),
        (f"/plans/{plan_id}/report", DOCUMENT_CSP, "SAMEORIGIN"),
        (f"/plans/{plan_id}/files/report.html", DOCUMENT_CSP, "SAMEORIGIN"),
        ("/docs", apidocs.CSP, "DENY"),
    ):
        answer = svc.http.get(path, headers={"Accept": "text/html"})
        assert answer.status_code == 200, path
        assert answer.headers["content-type"].startswith("text/html"), path
        assert answer.headers["content-security-policy"] == policy, path
        assert answer.headers["x-frame-options"] == framing, path
        assert answer.headers["x-content-type-options"] == "nosniff", path
        assert answer.headers["referrer-policy"] == "same-origin", path
    # The report runs no script at all; only this site (the dashboard's frame) may frame it.
    assert "script-src" not in DOCUMENT_CSP and "default-src 'none'" in DOCUMENT_CSP
    assert "frame-ancestors 'self'" in DOCUMENT_CSP and "frame-ancestors 'none'" in DASHBOARD_CSP
    # Every other answer is not to be sniffed into HTML either.
    for path in ("/plans", f"/plans/{plan_id}/files", "/static/app.css", "/nope", "/healthz"):
        answer = svc.http.get(path)
        assert answer.headers["x-content-type-options"] == "nosniff", path
        assert "content-security-policy" not in answer.headers, path


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("localhost:8000", "localhost"),
        ("[::1]:8000", "::1"),
        ("[::1]", "::1"),
        ("Example.COM.", "example.com"),
        ("example.com:", None),
        ("example.com:80:80", None),
        ("::1", None),
        ("[::1", None),
        ("[::1]x", None),
    ],
)
def test_host_header_parsing(header: str, name: str | None) -> None:
    assert host_name(header) == name


def test_settings_refuse_what_is_not_a_host_or_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value, fragment in (
        ("PLANEXE_ALLOWED_HOSTS", "https://planexe.example.com", "is not a host name"),
        ("PLANEXE_CORS_ORIGINS", "http://localhost:3000/", "is not an origin"),
        ("PLANEXE_CORS_ORIGINS", "localhost:3000", "is not an origin"),
    ):
        monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        with pytest.raises(ConfigError) as caught:
            get_settings()
        assert str(caught.value).startswith(f"{name}={value}: {value!r} {fragment}")
        monkeypatch.delenv(name)


def test_railway_s_public_name_is_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAILWAY_PUBLIC_DOMAIN", "planexe-production.up.railway.app")
    monkeypatch.setenv("PLANEXE_ALLOWED_HOSTS", "planexe.example.com")
    get_settings.cache_clear()
    assert get_settings().allowed_hosts == "planexe.example.com,planexe-production.up.railway.app"
